package io.thermocline.mount;

import io.thermocline.engine.BackingObject;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.region.SlotState;
import io.thermocline.tier.ObjectKey;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * One immutable view of the engine's objects as a tree of directories and read-only files, made
 * from one listing. Each object is a file at its key's path: key segments are directories.
 *
 * <p>A key that cannot be such a path is listed, under a name of its own, in the directory
 * {@value #ESCAPED_DIR} at the root:
 * <ul>
 *   <li>a key with an empty, {@code .} or {@code ..} segment, or a segment longer than 255 bytes;</li>
 *   <li>a key that is also a directory of other keys ({@code a} beside {@code a/b}): the directory
 *       wins, because a model's directory is what loaders open;</li>
 *   <li>a key under {@value #ESCAPED_DIR} itself.</li>
 * </ul>
 * Its escaped name is the whole key with every byte outside {@code [A-Za-z0-9._-]} written as
 * {@code %XX} (so {@code /} is {@code %2F}); a name longer than 255 bytes is {@code sha256-}
 * followed by the SHA-256 of the key in hex.
 *
 * <p>Objects that the backing tier lists but the engine has never seen (uploaded by another tool)
 * are files too, at the size the listing tells; the first open imports one ({@code TierEngine#read}).
 *
 * <p>A file's modification time is the time this mount first saw the object's current version
 * (its epoch), carried from one view to the next: it changes exactly when the object is
 * replaced, so that the kernel keeps a file's cached pages until then ({@code auto_cache}).
 */
final class Namespace {

    /** The root directory's entry for keys that have no plain path. */
    static final String ESCAPED_DIR = ".thermocline-escaped";
    private static final int NAME_MAX = 255;
    /** The epoch of a file the backing tier lists but the engine has not seen yet. */
    static final long UNSEEN = -1;

    /** A file of the view: the object it shows, its size and the version it shows. */
    record FileEntry(ObjectKey key, long sizeInBytes, long epoch, long mtimeMillis) {
    }

    private final Map<String, FileEntry> files;
    private final Map<ObjectKey, FileEntry> byKey;
    private final Map<String, NavigableSet<String>> directories;
    private final long builtAtNanos;

    private Namespace(Map<String, FileEntry> files, Map<String, NavigableSet<String>> directories, long builtAtNanos) {
        this.files = files;
        this.byKey = new HashMap<>(files.size() * 2);
        for (FileEntry e : files.values()) {
            byKey.put(e.key(), e);
        }
        this.directories = directories;
        this.builtAtNanos = builtAtNanos;
    }

    /** A view with no objects. */
    static Namespace empty() {
        return build(List.of(), null, 0, System.nanoTime());
    }

    /**
     * @param objects    the engine's listing
     * @param previous   the view before, whose modification times carry over for unchanged objects; or null
     * @param nowMillis  the modification time of an object this view shows first
     */
    static Namespace build(List<ObjectStatus> objects, Namespace previous, long nowMillis, long nowNanos) {
        return build(objects, List.of(), previous, nowMillis, nowNanos);
    }

    /**
     * @param objects    the engine's listing
     * @param backing    what the backing tier lists: those of its objects that {@code objects} does
     *                   not name (the engine has never seen them, such as another tool's uploads)
     *                   are shown too, at their listed size and with the epoch {@link #UNSEEN}; one
     *                   whose size the listing does not tell is left out
     * @param previous   the view before, whose modification times carry over for unchanged objects; or null
     * @param nowMillis  the modification time of an object this view shows first
     */
    static Namespace build(List<ObjectStatus> objects, List<BackingObject> backing, Namespace previous, long nowMillis,
            long nowNanos) {
        record Shown(ObjectKey key, long size, long epoch) {
        }
        List<Shown> readable = new ArrayList<>(objects.size() + backing.size());
        TreeSet<String> keys = new TreeSet<>();
        Set<ObjectKey> known = new HashSet<>(objects.size() * 2);
        for (ObjectStatus o : objects) {
            known.add(o.key());
            if (o.tiers().isEmpty() || o.state() == SlotState.TOMBSTONE || o.state() == SlotState.ABSENT) {
                continue;
            }
            readable.add(new Shown(o.key(), o.sizeInBytes(), o.epoch()));
            keys.add(o.key().value());
        }
        for (BackingObject b : backing) {
            // an object the catalog names, even as deleted, is as the catalog says
            if (b.sizeInBytes() >= 0 && !known.contains(b.key()) && keys.add(b.key().value())) {
                readable.add(new Shown(b.key(), b.sizeInBytes(), UNSEEN));
            }
        }
        Map<String, FileEntry> files = new HashMap<>(readable.size() * 2);
        Map<String, NavigableSet<String>> dirs = new HashMap<>();
        dirs.put("", new TreeSet<>());
        for (Shown o : readable) {
            String key = o.key().value();
            long mtime = nowMillis;
            if (previous != null) {
                FileEntry before = previous.entryOf(o.key());
                // an unseen object that is imported (read first) keeps its time: its pages came from that import
                if (before != null && (before.epoch() == o.epoch() || before.epoch() == UNSEEN)
                        && before.sizeInBytes() == o.size()) {
                    mtime = before.mtimeMillis();
                }
            }
            FileEntry entry = new FileEntry(o.key(), o.size(), o.epoch(), mtime);
            String path = plainPath(key, keys) ? key : ESCAPED_DIR + "/" + escapedName(key);
            files.put(path, entry);
            addParents(path, dirs);
        }
        return new Namespace(files, dirs, nowNanos);
    }

    private FileEntry entryOf(ObjectKey key) {
        return byKey.get(key);
    }

    /** Whether {@code key} can be shown at its own path among {@code keys}. */
    static boolean plainPath(String key, NavigableSet<String> keys) {
        if (key.equals(ESCAPED_DIR) || key.startsWith(ESCAPED_DIR + "/")) {
            return false;
        }
        for (String segment : key.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..") || segment.indexOf('\0') >= 0
                    || segment.getBytes(StandardCharsets.UTF_8).length > NAME_MAX) {
                return false;
            }
        }
        // a key that is also the directory of other keys: the directory wins
        String first = keys.ceiling(key + "/");
        return first == null || !first.startsWith(key + "/");
    }

    /** The name of a key in {@value #ESCAPED_DIR}; see the class comment. */
    static String escapedName(String key) {
        byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder(bytes.length + 16);
        for (byte b : bytes) {
            int c = b & 0xff;
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') {
                out.append((char) c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        String name = out.toString();
        if (name.length() > NAME_MAX || name.equals(".") || name.equals("..")) {
            try {
                return "sha256-" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK has no SHA-256", e);
            }
        }
        return name;
    }

    private static void addParents(String path, Map<String, NavigableSet<String>> dirs) {
        String child = path;
        while (true) {
            int slash = child.lastIndexOf('/');
            String parent = slash < 0 ? "" : child.substring(0, slash);
            String name = slash < 0 ? child : child.substring(slash + 1);
            NavigableSet<String> names = dirs.get(parent);
            boolean known = names != null;
            if (!known) {
                names = new TreeSet<>();
                dirs.put(parent, names);
            }
            names.add(name);
            if (known || parent.isEmpty()) {
                return;
            }
            child = parent;
        }
    }

    /** The file at {@code path} (no leading slash), if there is one. */
    Optional<FileEntry> file(String path) {
        return Optional.ofNullable(files.get(path));
    }

    /** Whether {@code path} (no leading slash; {@code ""} is the root) is a directory. */
    boolean isDirectory(String path) {
        return directories.containsKey(path);
    }

    /** The names in directory {@code path}, sorted; empty if it is none. */
    NavigableSet<String> children(String path) {
        NavigableSet<String> names = directories.get(path);
        return names == null ? Collections.emptyNavigableSet() : Collections.unmodifiableNavigableSet(names);
    }

    /** How many files the view shows. */
    int fileCount() {
        return files.size();
    }

    /** How many directories the view shows, the root included. */
    int directoryCount() {
        return directories.size();
    }

    /** When it was made ({@link System#nanoTime()}). */
    long builtAtNanos() {
        return builtAtNanos;
    }

    /** The path at which the view shows {@code key}, without a leading slash, if it shows it. */
    Optional<String> pathOf(ObjectKey key) {
        FileEntry e = entryOf(key);
        if (e == null) {
            return Optional.empty();
        }
        String plain = key.value();
        if (files.get(plain) == e) {
            return Optional.of(plain);
        }
        return Optional.of(ESCAPED_DIR + "/" + escapedName(plain));
    }
}
