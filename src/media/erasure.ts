/**
 * When a former employee's record is erased (`herald person erase`, src/identity/erase.ts), the
 * images they uploaded that no post carries go at once — rows and files — instead of waiting for
 * the daily sweep (or for ever, when a pending draft held them: erasure discards those drafts).
 * What their posts carry stays with the posts.
 */
import { IsNull } from "typeorm";
import type { Database } from "../db/database.ts";
import type { DirectoryEvent, EventConsumer } from "../identity/events.ts";
import { logger } from "../logging.ts";
import { MediaSchema, storageKey } from "./entities.ts";
import type { MediaStore } from "./store.ts";

const log = logger("media", "erasure");

export function erasedUploadsConsumer(db: Database, store: MediaStore): EventConsumer {
  return {
    name: "media-erasure",
    kind: "cluster",
    async handle(event: DirectoryEvent) {
      if (event.type !== "person.erased") return;
      const rows = await db.run((em) =>
        em.getRepository(MediaSchema).findBy({ personId: event.personId, postId: IsNull() }),
      );
      let removed = 0;
      for (const m of rows) {
        // Only while no post carries it (at least once: a second delivery finds nothing left).
        const r = await db.run((em) => em.getRepository(MediaSchema).delete({ id: m.id, postId: IsNull() }));
        if (!r.affected) continue;
        await store.remove([
          storageKey(m.id, "original", m.format),
          storageKey(m.id, "small", m.smallFormat),
        ]);
        removed++;
      }
      if (removed > 0)
        log.info("Removed {count} unattached upload(s) of an erased person.", { count: removed });
    },
  };
}
