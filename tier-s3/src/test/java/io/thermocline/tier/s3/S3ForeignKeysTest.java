package io.thermocline.tier.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;

/**
 * Objects under the tier's prefix that no tier wrote and whose names are not object keys: the
 * listing skips and counts them and never fails.
 */
class S3ForeignKeysTest extends EmbeddedServerTestBase {

    private String bucket;
    private S3Tier tier;

    @BeforeEach
    void open() throws Exception {
        bucket = newBucket("foreign");
        tier = S3Tier.open(S3TierConfig.builder(bucket).prefix("dir/").endpoint(server.endpoint())
                .credentials(credentials(server.secretKey())).trackUsage(false).build());
    }

    @AfterEach
    void close() {
        tier.close();
    }

    private void put(String key) {
        try (ObjectWriter w = tier.create(WriteRequest.of(ObjectKey.of(key), 3)).join()) {
            w.write(0, java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3})).join();
            w.commit().join();
        }
    }

    private List<ObjectKey> listAll(int pageSize) {
        List<ObjectKey> all = new ArrayList<>();
        ObjectKey after = null;
        int pages = 0;
        do {
            ListPage page = tier.list("", after, pageSize).join();
            all.addAll(page.keys());
            after = page.nextStartAfter().orElse(null);
            assertThat(++pages).as("pages of a listing of a few keys").isLessThan(100);
        } while (after != null);
        return all;
    }

    @Test
    void aFolderMarkerEqualToThePrefix_isSkippedAndCounted_andTheListingSucceeds() {
        put("a");
        put("b/c");
        // what the S3 console's "Create folder" makes: a zero-byte object whose key is the prefix
        direct.putObject(b -> b.bucket(bucket).key("dir/"), RequestBody.empty());
        assertThat(direct.listObjectsV2(b -> b.bucket(bucket).prefix("dir/")).contents())
                .as("the server keeps the folder marker").anyMatch(o -> o.key().equals("dir/"));

        assertThat(listAll(1000)).containsExactly(ObjectKey.of("a"), ObjectKey.of("b/c"));
        assertThat(tier.foreignKeysSkipped()).isEqualTo(1);
    }

    @Test
    void pagesOfOnlyForeignKeys_areSkipped_withPagesOfOneKey() {
        direct.putObject(b -> b.bucket(bucket).key("dir/"), RequestBody.empty());
        put("x");
        put("y");
        long before = tier.foreignKeysSkipped();
        // the marker sorts first: the first page of one key holds only it
        assertThat(listAll(1)).containsExactly(ObjectKey.of("x"), ObjectKey.of("y"));
        assertThat(tier.foreignKeysSkipped()).isGreaterThan(before);
    }
}
