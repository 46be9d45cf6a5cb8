package io.thermocline.engine;

/**
 * A request the engine refuses in its current state (the object exists already, it is the only
 * copy, it is dirty, there is no owner to ask), or an operation that did not finish. The message
 * names the object, what was wrong and what to do.
 */
public final class EngineException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public EngineException(String message) {
        super(message);
    }

    public EngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
