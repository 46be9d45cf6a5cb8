package io.thermocline.placement;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PlannerTest {
    private static final PolicyConfig CONFIG = PolicyConfig.builder()
            .tiers(List.of(TierSpec.builder("local", 1000).highWatermark(0.9).lowWatermark(0.5).build(),
                    TierSpec.builder("s3", 1_000_000).build()))
            .rules(List.of(
                    Rule.builder("pinned/").pinTtl(Duration.ofHours(1)).build(),
                    Rule.builder("wb/").writeMode(WriteMode.WRITE_BACK).build(),
                    Rule.builder("lo/").writeMode(WriteMode.LOCAL_ONLY).build()))
            .build();

    private static List<ObjectState> objects() {
        return List.of(
                new ObjectState("read-me", 50, "s3", 0, 1000, -1),
                new ObjectState("stage-me", 50, "s3", 0, 1000, -1),
                new ObjectState("hot", 100, "s3", 9, 10, -1),
                new ObjectState("warm", 100, "s3", 3, 10, -1),
                new ObjectState("cool", 100, "s3", 1, 10, -1),          // below min heat 2.0
                new ObjectState("pinned/a", 10, "s3", 0, 60_000, -1),  // pinned: promoted without heat
                new ObjectState("cold-1", 300, "local", 0.1, 10, -1),
                new ObjectState("cold-2", 300, "local", 0.2, 10, -1),
                new ObjectState("idle", 10, "local", 5, Duration.ofDays(2).toMillis(), -1),
                new ObjectState("lo/x", 300, "local", 0.05, 10, -1),   // local-only: never demoted to s3
                new ObjectState("wb/new", 20, "local", 8, 10, 5000),
                new ObjectState("wb/old", 20, "local", 8, 10, 1000));
    }

    private static final Map<String, Long> USED = Map.of("local", 950L, "s3", 0L);

    @Test
    void movesComeInPriorityOrder_withTheExpectedChoices() {
        List<Move> moves = new Planner(CONFIG).plan(objects(), USED, List.of("read-me"), List.of("stage-me", "read-me"));
        List<String> summary = moves.stream().map(m -> m.kind().priority() + ":" + m.key() + ":" + m.fromTier() + "->" + m.toTier()).toList();
        assertThat(summary).containsExactly(
                "4:cold-1:local->s3",
                "4:cold-2:local->s3",
                "4:idle:local->s3",
                "5:wb/old:local->s3",
                "5:wb/new:local->s3");
        // local is at 950 of 1000 (high 900): nothing can be promoted until demotions run,
        // so the reads and promotions wait. With room, they come first:
        List<Move> roomy = new Planner(CONFIG).plan(objects(), Map.of("local", 300L), List.of("read-me"), List.of("stage-me", "read-me"));
        assertThat(roomy.stream().map(m -> m.kind().priority() + ":" + m.key()).toList()).containsExactly(
                "1:read-me", "2:stage-me", "3:pinned/a", "3:hot", "3:warm", "4:idle", "5:wb/old", "5:wb/new");
        for (int i = 1; i < roomy.size(); i++) {
            assertThat(roomy.get(i).kind().priority()).isGreaterThanOrEqualTo(roomy.get(i - 1).kind().priority());
        }
    }

    @Test
    void promotionsStopAtTheHighWatermark() {
        List<Move> moves = new Planner(CONFIG).plan(objects(), Map.of("local", 720L), List.of(), List.of());
        // 900 - 720 = 180 bytes of room: pinned/a (10) and hot (100) fit, warm (100) does not
        assertThat(moves.stream().filter(m -> m.kind() == MoveKind.PROMOTION).map(Move::key).toList()).containsExactly("pinned/a", "hot");
    }

    @Test
    void sameInputInAnyOrder_givesTheSamePlan() {
        Planner p = new Planner(CONFIG);
        List<Move> first = p.plan(objects(), USED, List.of("read-me"), List.of("stage-me"));
        Random r = new Random(7);
        for (int i = 0; i < 20; i++) {
            List<ObjectState> shuffled = new ArrayList<>(objects());
            Collections.shuffle(shuffled, r);
            assertThat(p.plan(shuffled, USED, List.of("read-me"), List.of("stage-me"))).isEqualTo(first);
        }
    }

    private static List<String> summary(List<Move> moves) {
        return moves.stream().map(m -> m.kind().priority() + ":" + m.key()).toList();
    }

    @Test
    void displacement_aHotterCandidateTakesTheRoomOfColderResidents_promotedNextRound() {
        Planner p = new Planner(CONFIG, true);
        // local at 720 of a 900 high watermark: pinned/a and hot fit (830); warm (heat 3, 100 bytes)
        // does not. Its 300 bytes served outweigh cold-1's 0.1 x 300 = 30, the coldest resident
        // that may move (idle's heat of 5 is discounted by two days idle against a one-hour
        // half-life to about 0.10; lo/x is local-only and the wb/ objects are dirty): cold-1 is
        // demoted and warm waits for the room.
        List<Move> moves = p.plan(objects(), Map.of("local", 720L), List.of(), List.of());
        assertThat(summary(moves)).containsExactly("3:pinned/a", "3:hot", "4:cold-1", "4:idle", "5:wb/old", "5:wb/new");
        // without displacement warm waits, and cold-1 stays
        assertThat(summary(new Planner(CONFIG).plan(objects(), Map.of("local", 720L), List.of(), List.of())))
                .containsExactly("3:pinned/a", "3:hot", "4:idle", "5:wb/old", "5:wb/new");

        // next round, once those moves ran: 720 + 10 + 100 - 300 - 10 = 520 bytes on local
        List<ObjectState> after = new ArrayList<>();
        for (ObjectState o : objects()) {
            String tier = switch (o.key()) {
                case "pinned/a", "hot" -> "local";
                case "cold-1", "idle" -> "s3";
                default -> o.tier();
            };
            // idle's heat as the engine would report it after two days (decayed to nothing)
            double heat = o.key().equals("idle") ? 0 : o.heatReads();
            after.add(new ObjectState(o.key(), o.sizeBytes(), tier, heat, o.idleMillis(), o.dirtySinceMillis()));
        }
        List<Move> next = p.plan(after, Map.of("local", 520L), List.of(), List.of());
        assertThat(next.stream().filter(m -> m.kind() == MoveKind.PROMOTION).map(Move::key).toList()).containsExactly("warm");
    }

    @Test
    void displacement_weighsBytesServed_andNeverTakesPinnedOrDirtyObjects() {
        PolicyConfig config = PolicyConfig.builder()
                .tiers(List.of(TierSpec.builder("local", 1000).highWatermark(0.9).lowWatermark(0.5).build(),
                        TierSpec.builder("s3", 1_000_000).build()))
                .rules(List.of(Rule.builder("pinned/").pinTtl(Duration.ofHours(1)).build(),
                        Rule.builder("wb/").writeMode(WriteMode.WRITE_BACK).build()))
                .build();
        List<ObjectState> residents = List.of(
                new ObjectState("pinned/r", 200, "local", 0.5, 10, -1),
                new ObjectState("wb/d", 200, "local", 0.5, 10, 1000),
                new ObjectState("r1", 200, "local", 4, 10, -1),
                new ObjectState("r2", 200, "local", 5, 10, -1));
        Map<String, Long> used = Map.of("local", 800L);
        Planner p = new Planner(config, true);
        // c (heat 3 x 200 = 600 bytes served) needs 100 bytes: the coldest movable resident, r1,
        // would serve 4 x 200 = 800. Nothing moves (wb/d's persistence aside).
        List<ObjectState> lukewarm = new ArrayList<>(residents);
        lukewarm.add(new ObjectState("c", 200, "s3", 3, 10, -1));
        assertThat(summary(p.plan(lukewarm, used, List.of(), List.of()))).containsExactly("5:wb/d");
        // a hotter candidate (heat 5 x 200 = 1000) displaces r1, not the colder pinned or dirty objects
        List<ObjectState> hot = new ArrayList<>(residents);
        hot.add(new ObjectState("c", 200, "s3", 5, 10, -1));
        assertThat(summary(p.plan(hot, used, List.of(), List.of()))).containsExactly("4:r1", "5:wb/d");
        // the same input in any order gives the same plan
        Random r = new Random(11);
        for (int i = 0; i < 10; i++) {
            List<ObjectState> shuffled = new ArrayList<>(hot);
            Collections.shuffle(shuffled, r);
            assertThat(p.plan(shuffled, used, List.of(), List.of())).isEqualTo(p.plan(hot, used, List.of(), List.of()));
        }
    }
}
