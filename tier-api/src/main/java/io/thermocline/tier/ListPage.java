package io.thermocline.tier;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One page of a listing, in key order.
 *
 * @param keys the keys on this page, ascending
 * @param nextStartAfter the key to pass as {@code startAfter} for the next page; empty on the last page
 */
public record ListPage(List<ObjectKey> keys, Optional<ObjectKey> nextStartAfter) {

    public ListPage {
        keys = List.copyOf(keys);
        Objects.requireNonNull(nextStartAfter, "nextStartAfter");
    }

    public boolean isLast() {
        return nextStartAfter.isEmpty();
    }
}
