/**
 * Thermocline's tier contracts: value types, the {@link io.thermocline.tier.Tier} and
 * {@link io.thermocline.tier.BlockDevice} SPIs, the exception hierarchy and CRC32C helpers.
 * The {@code support} package holds mechanisms shared by implementations (chunk checksum
 * accounting, verified reads); it does no I/O of its own.
 */
module io.thermocline.tier.api {
    exports io.thermocline.tier;
    exports io.thermocline.tier.support;
}
