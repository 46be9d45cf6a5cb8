package io.thermocline.tier;

/** The tier holds no object under the key. Not retryable: the object must be written first. */
public final class ObjectNotFoundException extends TierException {

    private static final long serialVersionUID = 1L;

    private final String tierName;
    private final transient ObjectKey key;

    public ObjectNotFoundException(String tierName, ObjectKey key) {
        super("object " + key + " not found in tier " + tierName);
        this.tierName = tierName;
        this.key = key;
    }

    public String tierName() {
        return tierName;
    }

    public ObjectKey key() {
        return key;
    }

    @Override
    public boolean retryable() {
        return false;
    }
}
