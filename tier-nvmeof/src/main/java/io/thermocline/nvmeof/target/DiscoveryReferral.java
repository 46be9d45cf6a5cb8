package io.thermocline.nvmeof.target;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Objects;

/**
 * A referral the target's discovery controller lists: another NVMe/TCP discovery controller a
 * host may ask next. It becomes a Discovery Log Page entry of subtype 1h, "referral to a
 * discovery service" (NVMe Base 2.0 §5.16.1.23, Figure 263), whose SUBNQN is the well-known
 * discovery NQN — as the kernel's nvmet lists the referrals configured on a port.
 *
 * @param traddr the other discovery controller's IP address, as a literal (TRADDR, at most 256
 *        ASCII bytes); IPv6 when it contains a colon
 * @param trsvcid its TCP port (TRSVCID), 1..65535; 8009 is the discovery port NVMe/TCP reserves
 * @param portId PORTID of the entry, 0..FFFEh: the port of the other discovery subsystem
 */
public record DiscoveryReferral(String traddr, int trsvcid, int portId) {

    public DiscoveryReferral {
        Objects.requireNonNull(traddr, "referral traddr");
        if (traddr.isBlank() || traddr.getBytes(StandardCharsets.US_ASCII).length > 256 || !StandardCharsets.US_ASCII.newEncoder().canEncode(traddr)
                || traddr.chars().anyMatch(Character::isWhitespace)) {
            throw new IllegalArgumentException("referral traddr '" + traddr + "' (expected an IP address literal of at most 256 ASCII characters)");
        }
        if (trsvcid < 1 || trsvcid > 65535) {
            throw new IllegalArgumentException("referral trsvcid " + trsvcid + " of " + traddr + " (expected 1..65535)");
        }
        if (portId < 0 || portId > 0xFFFE) {
            throw new IllegalArgumentException("referral port ID " + portId + " of " + traddr + " (expected 0..65534)");
        }
        traddr = traddr.toLowerCase(Locale.ROOT);
    }

    /** A referral with PORTID 1. */
    public DiscoveryReferral(String traddr, int trsvcid) {
        this(traddr, trsvcid, 1);
    }

    /** Whether TRADDR is an IPv6 address (ADRFAM 2) rather than IPv4 (ADRFAM 1). */
    boolean ipv6() {
        return traddr.indexOf(':') >= 0;
    }
}
