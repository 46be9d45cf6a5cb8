package io.thermocline.mount;

import static org.assertj.core.api.Assertions.assertThat;

import io.thermocline.engine.BackingObject;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.region.SlotState;
import io.thermocline.tier.ObjectKey;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class NamespaceTest {

    private static ObjectStatus object(String key, long size, long epoch) {
        return new ObjectStatus(ObjectKey.of(key), size, 0, SlotState.READY, List.of("local"), epoch, 0, 0, 0);
    }

    @Test
    void keysBecomePaths_andTheirSegmentsDirectories() {
        Namespace v = Namespace.build(List.of(object("m/a/config.json", 10, 1), object("m/a/w.safetensors", 20, 1),
                object("top", 5, 1)), null, 1000, 0);
        assertThat(v.isDirectory("")).isTrue();
        assertThat(v.children("")).containsExactly("m", "top");
        assertThat(v.children("m")).containsExactly("a");
        assertThat(v.children("m/a")).containsExactly("config.json", "w.safetensors");
        assertThat(v.file("m/a/w.safetensors").orElseThrow().sizeInBytes()).isEqualTo(20);
        assertThat(v.file("m/a")).isEmpty();
        assertThat(v.isDirectory("m/a/config.json")).isFalse();
        assertThat(v.fileCount()).isEqualTo(3);
    }

    @Test
    void keysWithoutAPlainPath_areListedUnderTheirEscapedNames() {
        String longSegment = "x".repeat(256);
        Namespace v = Namespace.build(List.of(object("a", 1, 1), object("a/b", 2, 1),
                object("h/" + longSegment, 5, 1), object(Namespace.ESCAPED_DIR + "/z", 6, 1),
                object("sp ace/é", 7, 1)), null, 1000, 0);
        assertThat(v.file("a/b")).isPresent();
        assertThat(v.isDirectory("a")).isTrue();
        assertThat(v.children(Namespace.ESCAPED_DIR)).contains("a", ".thermocline-escaped%2Fz");
        assertThat(v.file(Namespace.ESCAPED_DIR + "/a").orElseThrow().key()).isEqualTo(ObjectKey.of("a"));
        // a name over 255 bytes is the key's SHA-256
        assertThat(v.children(Namespace.ESCAPED_DIR)).anyMatch(n -> n.startsWith("sha256-") && n.length() == 7 + 64);
        // spaces and UTF-8 are fine in a plain path
        assertThat(v.file("sp ace/é")).isPresent();
        assertThat(v.pathOf(ObjectKey.of("a"))).contains(Namespace.ESCAPED_DIR + "/a");
        assertThat(v.pathOf(ObjectKey.of("a/b"))).contains("a/b");
    }

    @Test
    void aFilesTimeIsKeptWhileItsVersionIs_andChangesWithANewVersion() {
        Namespace first = Namespace.build(List.of(object("k", 10, 1), object("j", 10, 1)), null, 1000, 0);
        Namespace second = Namespace.build(List.of(object("k", 10, 1), object("j", 11, 2)), first, 2000, 1);
        assertThat(second.file("k").orElseThrow().mtimeMillis()).isEqualTo(1000);
        assertThat(second.file("j").orElseThrow().mtimeMillis()).isEqualTo(2000);
    }

    @Test
    void objectsWithNoCopyOrDeleted_areNotShown() {
        List<ObjectStatus> objects = new ArrayList<>();
        objects.add(new ObjectStatus(ObjectKey.of("gone"), 1, 0, SlotState.TOMBSTONE, List.of("local"), 1, 0, 0, 0));
        objects.add(new ObjectStatus(ObjectKey.of("nowhere"), 1, 0, SlotState.READY, List.of(), 1, 0, 0, 0));
        objects.add(object("here", 1, 1));
        Namespace v = Namespace.build(objects, null, 0, 0);
        assertThat(v.children("")).containsExactly("here");
    }

    @Test
    void tenThousandObjects_makeAView() {
        List<ObjectStatus> objects = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            objects.add(object("models/m" + (i % 100) + "/shard-" + i + ".safetensors", i, 1));
        }
        Namespace v = Namespace.build(objects, null, 0, 0);
        assertThat(v.fileCount()).isEqualTo(10_000);
        assertThat(v.children("models")).hasSize(100);
        assertThat(v.children("models/m7")).hasSize(100);
    }

    @Test
    void objectsOnlyTheBackingTierLists_areFilesAtTheirListedSize_butTheCatalogSaysFirst() {
        ObjectStatus deleted = new ObjectStatus(ObjectKey.of("m/gone"), 3, 0, SlotState.TOMBSTONE, List.of(), 4, 0, 0, 0);
        List<BackingObject> backing = List.of(new BackingObject(ObjectKey.of("m/foreign.bin"), 123),
                new BackingObject(ObjectKey.of("m/known"), 999), new BackingObject(ObjectKey.of("m/gone"), 3),
                new BackingObject(ObjectKey.of("m/sizeless"), -1));
        Namespace v = Namespace.build(List.of(object("m/known", 10, 7), deleted), backing, null, 1000, 0);
        assertThat(v.children("m")).containsExactly("foreign.bin", "known");
        assertThat(v.file("m/foreign.bin").orElseThrow().sizeInBytes()).isEqualTo(123);
        assertThat(v.file("m/foreign.bin").orElseThrow().epoch()).isEqualTo(Namespace.UNSEEN);
        assertThat(v.file("m/known").orElseThrow().sizeInBytes()).isEqualTo(10);
        // imported by its first read: the same file, whose cached pages came from that import
        Namespace imported = Namespace.build(List.of(object("m/known", 10, 7), object("m/foreign.bin", 123, 9)), backing, v,
                2000, 1);
        assertThat(imported.file("m/foreign.bin").orElseThrow().mtimeMillis()).isEqualTo(1000);
        assertThat(imported.file("m/foreign.bin").orElseThrow().epoch()).isEqualTo(9);
        // replaced in the bucket by another size before it was read: a new file
        Namespace replaced = Namespace.build(List.of(object("m/known", 10, 7)),
                List.of(new BackingObject(ObjectKey.of("m/foreign.bin"), 124)), v, 3000, 2);
        assertThat(replaced.file("m/foreign.bin").orElseThrow().mtimeMillis()).isEqualTo(3000);
    }
}
