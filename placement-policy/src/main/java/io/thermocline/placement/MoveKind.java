package io.thermocline.placement;

/** What a move is for; the planner lists moves in this order, highest priority (1) first. */
public enum MoveKind {
    /** 1: a read is waiting for the object: copy it up to its preferred tier as it is read. */
    FOREGROUND_READ(1),
    /** 2: a client asked for the object ahead of use. */
    PRESTAGE(2),
    /** 3: heat crossed the rule's promotion threshold, or the object is pinned. */
    PROMOTION(3),
    /** 4: the tier is above its high watermark, or the object sat idle too long. */
    DEMOTION(4),
    /** 5: a write-back object must reach the backing tier. */
    WRITE_BACK_PERSIST(5);

    private final int priority;

    MoveKind(int priority) {
        this.priority = priority;
    }

    /** 1 (most urgent) to 5. */
    public int priority() {
        return priority;
    }
}
