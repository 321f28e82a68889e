/**
 * Where the processed files live (decision 0014): on local disk under HERALD_DATA_DIR/media
 * (the default; one machine, or a shared volume), or in the database's `media_blob` table
 * (HERALD_MEDIA_STORE=database), which every process on every machine already reads. Keys are
 * `<uuid>/<variant>.<ext>`, checked before they become a path.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { In } from "typeorm";
import type { Database } from "../db/database.ts";
import { MediaBlobSchema } from "./entities.ts";

export interface MediaStore {
  readonly kind: "disk" | "database";
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  /** The bytes, or null when there are none under that key. */
  get(key: string): Promise<Buffer | null>;
  remove(keys: readonly string[]): Promise<void>;
}

const KEY =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/(original|small)\.(jpg|png|webp|gif)$/;

function checked(key: string): string {
  if (!KEY.test(key)) throw new Error(`not a media storage key: ${JSON.stringify(key)}`);
  return key;
}

export function diskStore(root: string): MediaStore {
  const file = (key: string) => path.join(root, ...checked(key).split("/"));
  return {
    kind: "disk",
    async put(key, data) {
      const target = file(key);
      await mkdir(path.dirname(target), { recursive: true });
      // Written aside, then renamed: a reader never sees half a file.
      const tmp = `${target}.${randomUUID()}.tmp`;
      await writeFile(tmp, data);
      await rename(tmp, target);
    },
    async get(key) {
      try {
        return await readFile(file(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
    },
    async remove(keys) {
      for (const key of keys) await rm(file(key), { force: true });
      for (const dir of new Set(keys.map((k) => path.dirname(file(k)))))
        await rm(dir, { recursive: true, force: true });
    },
  };
}

export function databaseStore(db: Database): MediaStore {
  return {
    kind: "database",
    async put(key, data, contentType) {
      await db.run((em) =>
        em
          .getRepository(MediaBlobSchema)
          .insert({ key: checked(key), contentType, data, createdAt: new Date() }),
      );
    },
    async get(key) {
      const row = await db.run((em) => em.getRepository(MediaBlobSchema).findOneBy({ key: checked(key) }));
      return row ? Buffer.from(row.data) : null;
    },
    async remove(keys) {
      if (keys.length > 0)
        await db.run((em) => em.getRepository(MediaBlobSchema).delete({ key: In(keys.map(checked)) }));
    },
  };
}
