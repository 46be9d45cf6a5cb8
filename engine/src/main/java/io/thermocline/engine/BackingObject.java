package io.thermocline.engine;

import io.thermocline.tier.ObjectKey;
import java.util.Objects;

/**
 * An object that the backing tier lists, as {@link TierEngine#listBacking} gives it: also those
 * that the engine has never seen, such as objects another tool uploaded to the bucket.
 *
 * @param key          the object's key
 * @param sizeInBytes  its size as the listing tells it, or -1 where the backing tier's listing does not
 */
public record BackingObject(ObjectKey key, long sizeInBytes) {

    public BackingObject {
        Objects.requireNonNull(key, "key");
    }
}
