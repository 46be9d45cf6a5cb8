package io.thermocline.mount;

/**
 * A mount that could not be made, with the reason. {@link #unavailable()} says whether FUSE itself
 * is missing on this machine ({@code /dev/fuse}, {@code fusermount3}, libfuse 3), as opposed to a
 * mount point or mount that failed.
 */
public final class MountException extends Exception {

    private final boolean unavailable;

    public MountException(String message, boolean unavailable) {
        super(message);
        this.unavailable = unavailable;
    }

    /** Whether FUSE is unavailable here (the {@code mount} command exits 3 then). */
    public boolean unavailable() {
        return unavailable;
    }
}
