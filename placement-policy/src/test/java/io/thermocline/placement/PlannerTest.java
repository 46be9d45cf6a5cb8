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
}
