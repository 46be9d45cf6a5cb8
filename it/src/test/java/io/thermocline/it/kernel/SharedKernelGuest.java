package io.thermocline.it.kernel;

import java.io.IOException;
import java.util.Optional;

import org.junit.jupiter.api.Assumptions;

/**
 * One {@link KernelGuest} for a whole test class, booted in {@code @BeforeAll} and closed in
 * {@code @AfterAll}. Booting takes seconds, so tests share it.
 *
 * <p>When the machine cannot run a guest, {@link #start} does not throw: it prints the reason to
 * stderr and remembers it, and {@link #get()} then aborts each calling test as skipped with that
 * reason. Aborting in {@code @BeforeAll} instead would skip the class without Surefire counting a
 * single skipped test.
 */
public final class SharedKernelGuest implements AutoCloseable {

    private final KernelGuest guest;
    private final String unavailableReason;

    private SharedKernelGuest(KernelGuest guest, String unavailableReason) {
        this.guest = guest;
        this.unavailableReason = unavailableReason;
    }

    /**
     * Boots a guest, or records why this machine cannot.
     *
     * @throws IOException if the machine could run a guest but booting it failed
     */
    public static SharedKernelGuest start(KernelGuest.Options options) throws IOException {
        try {
            return new SharedKernelGuest(KernelGuest.start(options), null);
        } catch (GuestUnavailableException e) {
            String reason = "kernel guest unavailable: " + e.getMessage();
            System.err.println("SKIPPED: " + reason);
            return new SharedKernelGuest(null, reason);
        }
    }

    /** The guest; aborts the calling test as skipped, with the reason, if there is none. */
    public KernelGuest get() {
        Assumptions.assumeTrue(guest != null, unavailableReason);
        return guest;
    }

    /** The guest if it booted, for setup and teardown code that must not abort. */
    public Optional<KernelGuest> ifAvailable() {
        return Optional.ofNullable(guest);
    }

    /** Kills the guest's qemu, if one was started. */
    @Override
    public void close() {
        if (guest != null) {
            guest.close();
        }
    }
}
