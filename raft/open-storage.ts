// Which LogStorage a data directory gets. A directory keeps the engine it was created with: one
// that holds LevelDB files is opened as LevelStorage whatever the setting, so upgrading a node
// never strands its log; the setting chooses only for a new, empty directory.
import * as fs from 'node:fs';
import { LevelStorage } from './level-storage.js';
import { WalStorage } from './wal-storage.js';
import { WATERMARK_FILE } from './watermark.js';

export const STORAGE_ENGINES = ['wal', 'leveldb'] as const;
export type StorageEngine = (typeof STORAGE_ENGINES)[number];
export const STORAGE_ENGINE_DEFAULT: StorageEngine = 'wal';

/** The engine whose files `dir` holds, or null when it holds none (missing or empty). */
export function engineOfDir(dir: string): StorageEngine | null {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name !== WATERMARK_FILE && name !== `${WATERMARK_FILE}.tmp`) : [];
  if (files.length === 0) return null;
  // WalStorage refuses any file it does not know, so anything but its own segments is LevelDB's to judge.
  return files.some((name) => /^wal-\d+\.log$/.test(name)) ? 'wal' : 'leveldb';
}

export async function openLogStorage(dir: string, engineForNewDir: StorageEngine = STORAGE_ENGINE_DEFAULT): Promise<WalStorage | LevelStorage> {
  const engine = engineOfDir(dir) ?? engineForNewDir;
  return engine === 'wal' ? WalStorage.open(dir) : LevelStorage.open(dir);
}
