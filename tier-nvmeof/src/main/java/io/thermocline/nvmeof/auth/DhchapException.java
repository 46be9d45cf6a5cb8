package io.thermocline.nvmeof.auth;

/**
 * An authentication transaction that failed: the peer refused (it sent AUTH_Failure1 or
 * AUTH_Failure2), or this side refused what the peer sent. Retrying with the same secrets cannot
 * help, so the failure ends the association.
 */
public final class DhchapException extends RuntimeException {
    private final DhchapFailure failure;
    private final int code;
    private final boolean byPeer;

    /** This side refuses: the peer is told {@code failure}. */
    public DhchapException(DhchapFailure failure, String message) {
        super(message + ": " + failure.description() + String.format(" (%02xh)", failure.code()));
        this.failure = failure;
        this.code = failure.code();
        this.byPeer = false;
    }

    /** The peer refused with reason code explanation {@code code}. */
    public static DhchapException fromPeer(int code, String message) {
        return new DhchapException(code, message + ": " + DhchapFailure.describe(code));
    }

    private DhchapException(int code, String message) {
        super(message);
        this.failure = DhchapFailure.byCode(code);
        this.code = code;
        this.byPeer = true;
    }

    /** The reason code explanation, or {@code null} when the peer sent one this side does not know (see {@link #code()}). */
    public DhchapFailure failure() {
        return failure;
    }

    /** The reason code explanation as sent or received. */
    public int code() {
        return code;
    }

    /** Whether the peer refused (true) or this side did (false). */
    public boolean byPeer() {
        return byPeer;
    }
}
