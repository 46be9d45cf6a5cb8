package io.thermocline.placement;

/**
 * One planned copy of an object between tiers.
 *
 * @param kind     why, and so its priority
 * @param key      the object
 * @param fromTier the tier it is copied from
 * @param toTier   the tier it is copied to
 * @param bytes    its size
 * @param score    the order within a kind, higher first: heat for promotions, coldness for
 *                 demotions, dirty age for persistence, request order for reads and prestage
 */
public record Move(MoveKind kind, String key, String fromTier, String toTier, long bytes, double score) {
}
