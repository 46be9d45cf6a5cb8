package io.thermocline.region;

/** Control requests an attached process sends to the owner through the request ring. */
public enum RequestType {
    /** Copy the object to the tier in the request (ARG unused). */
    STAGE,
    /** Keep the object on the tier for ARG milliseconds. */
    PIN,
    /** Drop a pin. */
    UNPIN,
    /** Publish an object the requester wrote (ARG: size in bytes). */
    PUT,
    /** Remove the object's copy from the tier. */
    EVICT;

    private static final RequestType[] VALUES = values();

    static RequestType of(int code) {
        return code >= 0 && code < VALUES.length ? VALUES[code] : null;
    }
}
