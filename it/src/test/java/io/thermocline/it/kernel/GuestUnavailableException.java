package io.thermocline.it.kernel;

import java.io.IOException;

/**
 * The kernel guest cannot run on this machine: qemu, a tool, or the Debian kernel package is missing
 * and cannot be installed. Tests turn this into a skip with the reason, not a failure, because it says
 * nothing about the code under test.
 */
public final class GuestUnavailableException extends IOException {

    public GuestUnavailableException(String reason) {
        super(reason);
    }
}
