package io.thermocline.placement;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns heat, rules, usage and pins into a list of moves, highest priority first (see
 * {@link MoveKind}). A pure function of its input: the same input gives the same list, whatever
 * the order of {@code objects}. The last configured tier is the backing tier (S3): write-back
 * persistence targets it, and it never demotes.
 *
 * <p>Within a kind, moves are ordered by score (descending) and then key. Promotions and
 * foreground reads are planned only while the target tier stays at or under its high watermark
 * once earlier moves are counted; demotions bring a tier above its high watermark down to its low
 * watermark, coldest first, and also take objects idle longer than their rule allows. Pinned
 * objects (read within their rule's pin TTL) are never demoted and are promoted regardless of
 * heat. Concurrency and bandwidth limits are for the mover that executes the list.
 *
 * <p>With displacement on ({@link #Planner(PolicyConfig, boolean)}), a promotion candidate that
 * does not fit under the high watermark may take the room of colder residents, as the trace
 * simulator's policy does on a miss: the victims are the target tier's clean, unpinned residents
 * of lowest {@link Admission#residentValue value} (their decayed read heat, discounted by
 * idleness beyond one heat half-life), and they are demoted only if the candidate would serve more
 * bytes than they do ({@link Admission#admits}, {@code heat × size} against the sum over the
 * victims). This round plans the victims' demotions and keeps the room for the candidate; its
 * promotion comes in the next round, once the room is free. Off by default, which keeps a full
 * tier's contents until heat decay and the watermarks move them.
 */
public final class Planner {

    private final PolicyConfig config;
    private final boolean displace;

    /** A planner without displacement. */
    public Planner(PolicyConfig config) {
        this(config, false);
    }

    /**
     * @param config   the placement configuration; at least two tiers
     * @param displace whether a hot candidate may displace colder residents of a full tier
     * @throws ConfigException if fewer than two tiers are configured
     */
    public Planner(PolicyConfig config, boolean displace) {
        if (config.tiers().size() < 2) {
            throw new ConfigException("tiers", config.tiers().size() + " tiers", "at least two tiers (fast, then backing)");
        }
        this.config = config;
        this.displace = displace;
    }

    /**
     * @param objects         every object the engine tracks
     * @param usedBytes       bytes in use per tier name (missing = 0)
     * @param foregroundReads keys with a read waiting, in arrival order
     * @param prestage        keys asked for ahead of use, in request order
     */
    public List<Move> plan(List<ObjectState> objects, Map<String, Long> usedBytes, List<String> foregroundReads, List<String> prestage) {
        List<ObjectState> sorted = new ArrayList<>(objects);
        sorted.sort(Comparator.comparing(ObjectState::key));
        Map<String, ObjectState> byKey = new HashMap<>();
        for (ObjectState o : sorted) {
            byKey.put(o.key(), o);
        }
        Map<String, Long> projected = new HashMap<>();
        for (TierSpec t : config.tiers()) {
            projected.put(t.name(), usedBytes.getOrDefault(t.name(), 0L));
        }
        List<Move> moves = new ArrayList<>();
        Set<String> planned = new HashSet<>();

        requested(MoveKind.FOREGROUND_READ, foregroundReads, byKey, projected, planned, moves);
        requested(MoveKind.PRESTAGE, prestage, byKey, projected, planned, moves);

        // promotions: hottest first (pinned objects first of all)
        List<Move> promotions = new ArrayList<>();
        List<ObjectState> candidates = new ArrayList<>();
        for (ObjectState o : sorted) {
            Rule r = config.ruleFor(o.key());
            String target = preferred(r);
            if (planned.contains(o.key()) || rank(o.tier()) <= rank(target)) {
                continue;
            }
            if (pinned(o, r) || o.heatReads() >= r.minHeatToPromote()) {
                candidates.add(o);
            }
        }
        candidates.sort(Comparator.comparing((ObjectState o) -> !pinned(o, config.ruleFor(o.key())))
                .thenComparing(Comparator.comparingDouble(Planner::promotionScore).reversed())
                .thenComparing(ObjectState::key));
        List<Move> demotions = new ArrayList<>();
        for (ObjectState o : candidates) {
            String target = preferred(config.ruleFor(o.key()));
            if (fits(target, o.sizeBytes(), projected)) {
                projected.merge(target, o.sizeBytes(), Long::sum);
                planned.add(o.key());
                promotions.add(new Move(MoveKind.PROMOTION, o.key(), o.tier(), target, o.sizeBytes(), promotionScore(o)));
            } else if (displace) {
                displace(o, target, sorted, projected, planned, demotions);
            }
        }
        moves.addAll(promotions);

        // demotions: per non-backing tier, idle objects, then coldest until under the low watermark
        for (int ti = 0; ti < config.tiers().size() - 1; ti++) {
            TierSpec tier = config.tiers().get(ti);
            List<ObjectState> here = new ArrayList<>();
            for (ObjectState o : sorted) {
                if (tier.name().equals(o.tier()) && !planned.contains(o.key()) && !pinned(o, config.ruleFor(o.key()))) {
                    here.add(o);
                }
            }
            here.sort(Comparator.comparingDouble(ObjectState::heatReads).thenComparing(Comparator.comparingLong(ObjectState::idleMillis).reversed())
                    .thenComparing(ObjectState::key));
            boolean over = projected.get(tier.name()) > tier.highBytes();
            for (ObjectState o : here) {
                Rule r = config.ruleFor(o.key());
                boolean idle = o.idleMillis() > r.maxIdleBeforeDemotion().toMillis();
                boolean needed = over && projected.get(tier.name()) > tier.lowBytes();
                if (!idle && !needed) {
                    continue;
                }
                String target = demotionTarget(ti, r);
                if (target == null) {
                    continue;
                }
                projected.merge(tier.name(), -o.sizeBytes(), Long::sum);
                projected.merge(target, o.sizeBytes(), Long::sum);
                planned.add(o.key());
                demotions.add(new Move(MoveKind.DEMOTION, o.key(), o.tier(), target, o.sizeBytes(), -o.heatReads()));
            }
        }
        demotions.sort(Comparator.comparingDouble(Move::score).reversed().thenComparing(Move::key));
        moves.addAll(demotions);

        // write-back persistence: oldest dirty first
        String backing = config.tiers().getLast().name();
        List<Move> persist = new ArrayList<>();
        for (ObjectState o : sorted) {
            Rule r = config.ruleFor(o.key());
            if (o.dirtySinceMillis() >= 0 && r.writeMode() == WriteMode.WRITE_BACK && !backing.equals(o.tier())) {
                persist.add(new Move(MoveKind.WRITE_BACK_PERSIST, o.key(), o.tier(), backing, o.sizeBytes(), o.dirtySinceMillis()));
            }
        }
        persist.sort(Comparator.comparingDouble(Move::score).thenComparing(Move::key));
        moves.addAll(persist);
        return List.copyOf(moves);
    }

    /**
     * Plans the demotion of the residents of {@code target} that {@code candidate} displaces, if
     * it is worth more than they are; reserves the room for it (its promotion is planned once the
     * room is free).
     */
    private void displace(ObjectState candidate, String target, List<ObjectState> sorted, Map<String, Long> projected,
                          Set<String> planned, List<Move> demotions) {
        int ti = rank(target);
        if (ti >= config.tiers().size() - 1) {
            return; // the backing tier is never full in this sense
        }
        double window = Math.max(1, config.halfLife().toMillis()); // a sub-millisecond half-life counts as 1 ms
        List<ObjectState> residents = new ArrayList<>();
        for (ObjectState r : sorted) {
            Rule rule = config.ruleFor(r.key());
            if (target.equals(r.tier()) && !planned.contains(r.key()) && !pinned(r, rule) && r.dirtySinceMillis() < 0
                    && demotionTarget(ti, rule) != null) {
                residents.add(r);
            }
        }
        residents.sort(Comparator.comparingDouble((ObjectState r) -> Admission.residentValue(r.heatReads(), r.idleMillis(), window))
                .thenComparing(Comparator.comparingLong(ObjectState::idleMillis).reversed())
                .thenComparing(ObjectState::key));
        long high = config.tier(target).highBytes();
        long need = projected.get(target) + candidate.sizeBytes() - high;
        long freed = 0;
        double victimValue = 0;
        List<ObjectState> victims = new ArrayList<>();
        for (ObjectState r : residents) {
            if (freed >= need) {
                break;
            }
            victims.add(r);
            freed += r.sizeBytes();
            victimValue += Admission.residentValue(r.heatReads(), r.idleMillis(), window) * r.sizeBytes();
            if (!Admission.admits(candidate.heatReads(), candidate.sizeBytes(), victimValue)) {
                return;
            }
        }
        if (freed < need) {
            return; // not enough that may move
        }
        for (ObjectState r : victims) {
            String to = demotionTarget(ti, config.ruleFor(r.key()));
            projected.merge(target, -r.sizeBytes(), Long::sum);
            projected.merge(to, r.sizeBytes(), Long::sum);
            planned.add(r.key());
            demotions.add(new Move(MoveKind.DEMOTION, r.key(), r.tier(), to, r.sizeBytes(), -r.heatReads()));
        }
        projected.merge(target, candidate.sizeBytes(), Long::sum);
        planned.add(candidate.key());
    }

    private void requested(MoveKind kind, List<String> keys, Map<String, ObjectState> byKey, Map<String, Long> projected,
                           Set<String> planned, List<Move> moves) {
        int n = 0;
        for (String key : new LinkedHashSet<>(keys)) {
            ObjectState o = byKey.get(key);
            if (o == null || planned.contains(key)) {
                continue;
            }
            String target = preferred(config.ruleFor(key));
            if (rank(o.tier()) > rank(target) && fits(target, o.sizeBytes(), projected)) {
                projected.merge(target, o.sizeBytes(), Long::sum);
                planned.add(key);
                moves.add(new Move(kind, key, o.tier(), target, o.sizeBytes(), -(n++)));
            }
        }
    }

    private boolean fits(String tier, long bytes, Map<String, Long> projected) {
        return projected.get(tier) + bytes <= config.tier(tier).highBytes();
    }

    private static double promotionScore(ObjectState o) {
        return o.heatReads();
    }

    private boolean pinned(ObjectState o, Rule r) {
        return !r.pinTtl().isZero() && o.idleMillis() < r.pinTtl().toMillis();
    }

    private String preferred(Rule r) {
        return r.preferredTiers().isEmpty() ? config.tiers().getFirst().name() : r.preferredTiers().getFirst();
    }

    private String demotionTarget(int fromIndex, Rule r) {
        List<TierSpec> tiers = config.tiers();
        for (int i = fromIndex + 1; i < tiers.size(); i++) {
            String name = tiers.get(i).name();
            boolean backing = i == tiers.size() - 1;
            if (backing && r.writeMode() == WriteMode.LOCAL_ONLY) {
                continue;
            }
            if (r.preferredTiers().isEmpty() || r.preferredTiers().contains(name) || backing) {
                return name;
            }
        }
        return null;
    }

    private int rank(String tier) {
        for (int i = 0; i < config.tiers().size(); i++) {
            if (config.tiers().get(i).name().equals(tier)) {
                return i;
            }
        }
        return Integer.MAX_VALUE;
    }
}
