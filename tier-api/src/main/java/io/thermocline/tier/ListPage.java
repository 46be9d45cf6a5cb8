package io.thermocline.tier;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One page of a listing, in key order.
 *
 * @param keys the keys on this page, ascending
 * @param nextStartAfter the key to pass as {@code startAfter} for the next page; empty on the last page
 * @param sizesInBytes the size of each key's object, in the order of {@code keys}, where the listing
 *     tells it at no extra cost (an S3 listing does); empty where it does not
 */
public record ListPage(List<ObjectKey> keys, Optional<ObjectKey> nextStartAfter, List<Long> sizesInBytes) {

    public ListPage {
        keys = List.copyOf(keys);
        Objects.requireNonNull(nextStartAfter, "nextStartAfter");
        sizesInBytes = List.copyOf(sizesInBytes);
        if (!sizesInBytes.isEmpty() && sizesInBytes.size() != keys.size()) {
            throw new IllegalArgumentException("sizesInBytes: " + sizesInBytes.size() + " sizes for " + keys.size()
                    + " keys (expected: none, or one per key)");
        }
    }

    /** A page that does not tell sizes. */
    public ListPage(List<ObjectKey> keys, Optional<ObjectKey> nextStartAfter) {
        this(keys, nextStartAfter, List.of());
    }

    public boolean isLast() {
        return nextStartAfter.isEmpty();
    }

    /** The size of the object of {@code keys().get(i)}, or -1 where the page does not tell it. */
    public long sizeInBytes(int i) {
        return sizesInBytes.isEmpty() ? -1 : sizesInBytes.get(i);
    }
}
