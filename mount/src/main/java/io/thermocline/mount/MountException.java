package io.thermocline.mount;

/** A mount that could not be made, with the reason and its {@link Kind}. */
public final class MountException extends Exception {

    /** What went wrong. */
    public enum Kind {
        /** FUSE is missing on this machine: {@code /dev/fuse}, {@code fusermount3} or libfuse 3 (the command exits 3). */
        UNAVAILABLE,
        /** The mount point is unfit: not an empty directory, or already mounted (the command exits 2). */
        MOUNT_POINT,
        /** The mount itself failed (the command exits 1). */
        FAILED
    }

    private final Kind kind;

    public MountException(String message, Kind kind) {
        super(message);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
