package io.thermocline.tier;

/**
 * Stored or received bytes do not match their CRC32C. The data was not returned or published.
 * Not retryable on the same copy; another copy (another tier) may be good.
 */
public final class ChecksumMismatchException extends TierException {

    private static final long serialVersionUID = 1L;

    private final String resource;
    private final long offset;
    private final long length;
    private final int expectedCrc32c;
    private final int actualCrc32c;

    /**
     * @param resource what was read: the tier and key, or a file or device name
     * @param offset where the checked range starts, in bytes from the start of the object
     * @param length how many bytes the checksum covers
     * @param expectedCrc32c the recorded checksum
     * @param actualCrc32c the checksum of the bytes found
     */
    public ChecksumMismatchException(String resource, long offset, long length, int expectedCrc32c, int actualCrc32c) {
        super(String.format("CRC32C mismatch in %s at offset %d (length %d): expected 0x%08x, found 0x%08x",
                resource, offset, length, expectedCrc32c, actualCrc32c));
        this.resource = resource;
        this.offset = offset;
        this.length = length;
        this.expectedCrc32c = expectedCrc32c;
        this.actualCrc32c = actualCrc32c;
    }

    public String resource() {
        return resource;
    }

    public long offset() {
        return offset;
    }

    public long length() {
        return length;
    }

    public int expectedCrc32c() {
        return expectedCrc32c;
    }

    public int actualCrc32c() {
        return actualCrc32c;
    }

    @Override
    public boolean retryable() {
        return false;
    }
}
