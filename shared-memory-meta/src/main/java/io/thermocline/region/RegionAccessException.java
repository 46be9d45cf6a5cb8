package io.thermocline.region;

import java.nio.file.Path;

/**
 * A region file that this process does not trust: a symbolic link, a file of another user (and
 * not of the configured group), or one that others may read or write. Such a region is never
 * mapped nor replaced; the message names the file, what it is and what was expected.
 */
public final class RegionAccessException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final transient Path path;

    RegionAccessException(Path path, String message) {
        super(message);
        this.path = path;
    }

    /** The file that was refused. */
    public Path path() {
        return path;
    }
}
