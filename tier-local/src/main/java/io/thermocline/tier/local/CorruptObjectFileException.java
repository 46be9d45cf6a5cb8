package io.thermocline.tier.local;

/** An object file's trailer or footer is damaged; names the file, the offset and what was found. */
final class CorruptObjectFileException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    CorruptObjectFileException(String resource, long offset, String found) {
        super(resource + " is corrupt at offset " + offset + ": " + found);
    }
}
