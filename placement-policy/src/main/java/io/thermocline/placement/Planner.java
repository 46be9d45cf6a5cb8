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
 */
public final class Planner {

    private final PolicyConfig config;

    public Planner(PolicyConfig config) {
        if (config.tiers().size() < 2) {
            throw new ConfigException("tiers", config.tiers().size() + " tiers", "at least two tiers (fast, then backing)");
        }
        this.config = config;
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
        for (ObjectState o : candidates) {
            String target = preferred(config.ruleFor(o.key()));
            if (fits(target, o.sizeBytes(), projected)) {
                projected.merge(target, o.sizeBytes(), Long::sum);
                planned.add(o.key());
                promotions.add(new Move(MoveKind.PROMOTION, o.key(), o.tier(), target, o.sizeBytes(), promotionScore(o)));
            }
        }
        moves.addAll(promotions);

        // demotions: per non-backing tier, idle objects, then coldest until under the low watermark
        List<Move> demotions = new ArrayList<>();
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
