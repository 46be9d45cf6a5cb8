/** The cross-process metadata region: object table, heat, leases, request ring. */
module io.thermocline.region {
    requires transitive io.thermocline.tier.api;
    requires org.slf4j;
    exports io.thermocline.region;
}
