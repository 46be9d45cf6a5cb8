package io.thermocline.region;

/**
 * The region file is not a valid region of this layout: wrong magic, major version, geometry or
 * header checksum. It names the file and the field. A region that raises it is never trusted;
 * {@link SharedRegion#openOrCreate} recreates it.
 */
public final class RegionCorruptException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String file;
    private final String field;

    public RegionCorruptException(String file, String field, String found) {
        super("shared region " + file + " is invalid: " + field + " is " + found);
        this.file = file;
        this.field = field;
    }

    public String file() {
        return file;
    }

    public String field() {
        return field;
    }
}
