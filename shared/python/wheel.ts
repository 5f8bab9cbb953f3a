/**
 * Opening a built wheel and checking it as pip and the package indexes will: the file name
 * (PEP 427 / the binary distribution format spec), `*.dist-info/METADATA` Name and Version,
 * `WHEEL`, and `RECORD` (every file listed with its sha256 and size, and nothing listed that is
 * not there). A small zip reader (stored and deflated entries, no zip64: wheels of in-house
 * libraries are small) so nothing is installed for it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { inflateRawSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Names and versions

/** PEP 503: runs of `-_.` → `-`, lower case. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** The distribution part of a wheel's file name: runs of `-_.` → `_` (compared without case). */
export function wheelNameComponent(name: string): string {
  return name.replace(/[-_.]+/g, '_');
}

const PEP440 =
  /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;

/**
 * The canonical form of a PEP 440 version (as `packaging` compares them): `1.3.0-rc.2` →
 * `1.3rc2`, `1.3.0.DEV7` → `1.3.dev7`; trailing `.0`s of the release dropped. Undefined when it
 * is not a PEP 440 version.
 */
/** PEP 440's spellings of alpha and beta; every other pre-release label (c, pre, preview, rc) is rc. */
const PRE_RELEASE_LABELS = new Map([
  ['alpha', 'a'],
  ['a', 'a'],
  ['beta', 'b'],
  ['b', 'b'],
]);

export function canonicalPep440(version: string): string | undefined {
  const m = PEP440.exec(version);
  if (!m) return undefined;
  const [, epoch, release, preLabel, preNum, postImplicit, postLabel, postNum, dev, devNum, local] = m;
  let out = epoch && Number(epoch) ? `${Number(epoch)}!` : '';
  const parts = release.split('.').map(Number);
  while (parts.length > 1 && parts[parts.length - 1] === 0) parts.pop();
  out += parts.join('.');
  if (preLabel) {
    const l = preLabel.toLowerCase();
    out += `${PRE_RELEASE_LABELS.get(l) ?? 'rc'}${Number(preNum ?? 0)}`;
  }
  if (postImplicit !== undefined) out += `.post${Number(postImplicit)}`;
  else if (postLabel) out += `.post${Number(postNum ?? 0)}`;
  if (dev) out += `.dev${Number(devNum ?? 0)}`;
  if (local) out += `+${local.toLowerCase().replace(/[-_]/g, '.')}`;
  return out;
}

export function samePep440(a: string, b: string): boolean {
  const ca = canonicalPep440(a);
  return ca !== undefined && ca === canonicalPep440(b);
}

// ---------------------------------------------------------------------------------------------
// Zip

export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** The files of a zip archive (folders left out). Throws on what it cannot read. */
export function readZip(buf: Buffer): ZipEntry[] {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive (no end of central directory)');
  let count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  // zip64 (more than 65,535 entries, or offsets past 4 GiB): the counts and the directory's
  // offset are in the zip64 end record, found through the locator just before the end record.
  if (count === 0xffff || at === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || buf.readUInt32LE(locator) !== 0x07064b50) throw new Error('damaged zip64 archive (no zip64 locator)');
    const record = Number(buf.readBigUInt64LE(locator + 8));
    if (buf.readUInt32LE(record) !== 0x06064b50) throw new Error('damaged zip64 archive (no zip64 end record)');
    count = Number(buf.readBigUInt64LE(record + 32));
    at = Number(buf.readBigUInt64LE(record + 48));
  }
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error('damaged zip central directory');
    const method = buf.readUInt16LE(at + 10);
    let compressed = buf.readUInt32LE(at + 20);
    let size = buf.readUInt32LE(at + 24);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    let local = buf.readUInt32LE(at + 42);
    const name = buf.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    if (size === 0xffffffff || compressed === 0xffffffff || local === 0xffffffff) {
      // The zip64 extra field (id 1) holds, in this order, each of these that is 0xffffffff.
      const extra = buf.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength);
      for (let e = 0; e + 4 <= extra.length; e += 4 + extra.readUInt16LE(e + 2)) {
        if (extra.readUInt16LE(e) !== 1) continue;
        let v = e + 4;
        const next = () => Number(extra.readBigUInt64LE((v += 8) - 8));
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (local === 0xffffffff) local = next();
        break;
      }
    }
    at += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    if (buf.readUInt32LE(local) !== 0x04034b50) throw new Error(`damaged zip entry ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + compressed);
    const data = entryData(method, raw);
    if (!data) throw new Error(`zip entry ${name} uses compression method ${method}`);
    if (data.length !== size) throw new Error(`zip entry ${name} is ${data.length} bytes, the directory says ${size}`);
    entries.push({ name, data });
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Wheel

export interface WheelFileName {
  distribution: string;
  version: string;
  build?: string;
  python: string;
  abi: string;
  platform: string;
}

export function parseWheelFileName(file: string): WheelFileName | undefined {
  const m = /^([A-Za-z0-9_.]+?)-([^-]+?)(?:-(\d[^-]*))?-([^-]+)-([^-]+)-([^-]+)\.whl$/.exec(basename(file));
  if (!m) return undefined;
  return { distribution: m[1], version: m[2], ...(m[3] ? { build: m[3] } : {}), python: m[4], abi: m[5], platform: m[6] };
}

/** The header fields of an email-style metadata file (METADATA, WHEEL), first value of each. */
export function parseHeaders(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break; // the body (long description) starts
    if (/^[ \t]/.test(line)) continue; // a folded continuation
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    out.set(key, [...(out.get(key) ?? []), line.slice(colon + 1).trim()]);
  }
  return out;
}

/** CSV as RECORD writes it (Python's csv module: quotes around fields with commas or quotes). */
function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else value += line[i++];
      }
      fields.push(value);
      i++; // the comma
    } else {
      const next = line.indexOf(',', i);
      const end = next < 0 ? line.length : next;
      fields.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return fields;
}

export interface WheelInfo {
  file: string;
  fileName: WheelFileName;
  name: string;
  version: string;
  metadataVersion?: string;
  tags: string[];
  files: number;
  bytes: number;
  sha256: string;
}

export interface WheelExpectations {
  /** The project's name, when it is written in the project; compared PEP 503-normalized. */
  name?: string;
  /** The version asked for (PEP 440); compared canonically. */
  version?: string;
}

/**
 * Opens the wheel and checks it. Returns what it found, or throws a list of every problem (as
 * one Error whose message has a line per problem).
 */
export function inspectWheel(path: string, expect: WheelExpectations = {}): WheelInfo {
  const bytes = readFileSync(path);
  const problems: string[] = [];
  const fileName = parseWheelFileName(path);
  if (!fileName)
    throw new WheelCheckError(basename(path), ['the file name is not {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl']);
  let entries: ZipEntry[];
  try {
    entries = readZip(bytes);
  } catch (err) {
    throw new WheelCheckError(basename(path), [`it cannot be opened as a zip archive: ${(err as Error).message}`]);
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  const distInfo = [...new Set(entries.map((e) => /^([^/]+\.dist-info)\//.exec(e.name)?.[1]).filter((d): d is string => !!d))];
  if (distInfo.length !== 1)
    throw new WheelCheckError(basename(path), [
      `it has ${distInfo.length} .dist-info folders (${distInfo.join(', ') || 'none'}); a wheel has exactly one`,
    ]);
  const dir = distInfo[0];
  const text = (file: string) => byName.get(`${dir}/${file}`)?.data.toString('utf8');
  const metadata = text('METADATA');
  const wheel = text('WHEEL');
  const record = text('RECORD');
  if (metadata === undefined) problems.push(`${dir}/METADATA is missing`);
  if (wheel === undefined) problems.push(`${dir}/WHEEL is missing`);
  if (record === undefined) problems.push(`${dir}/RECORD is missing`);
  const meta = parseHeaders(metadata ?? '');
  const name = meta.get('name')?.[0] ?? '';
  const version = meta.get('version')?.[0] ?? '';
  if (metadata !== undefined) {
    if (!name) problems.push('METADATA has no Name');
    if (!version) problems.push('METADATA has no Version');
    else if (!canonicalPep440(version)) problems.push(`METADATA Version '${version}' is not a PEP 440 version`);
  }
  if (expect.name && name && normalizeName(name) !== normalizeName(expect.name))
    problems.push(`METADATA Name is '${name}', the project says '${expect.name}'`);
  if (expect.version && version && !samePep440(version, expect.version))
    problems.push(`METADATA Version is '${version}', the build asked for '${expect.version}'`);
  if (name && wheelNameComponent(fileName.distribution).toLowerCase() !== wheelNameComponent(name).toLowerCase())
    problems.push(
      `the file name's distribution '${fileName.distribution}' is not the METADATA Name '${name}' (as ${wheelNameComponent(name)})`,
    );
  if (version && fileName.version !== version.replace(/-/g, '_') && !samePep440(fileName.version, version))
    problems.push(`the file name's version '${fileName.version}' is not the METADATA Version '${version}'`);
  const expectedDir = `${fileName.distribution}-${fileName.version}.dist-info`;
  if (dir.toLowerCase() !== expectedDir.toLowerCase() && normalizeName(dir) !== normalizeName(expectedDir))
    problems.push(`the metadata folder is '${dir}', the file name says '${expectedDir}'`);
  const headers = parseHeaders(wheel ?? '');
  const tags = headers.get('tag') ?? [];
  if (wheel !== undefined) {
    if (!headers.get('wheel-version')?.[0]?.startsWith('1.'))
      problems.push(`WHEEL Wheel-Version is '${headers.get('wheel-version')?.[0] ?? ''}', pip reads 1.x`);
    for (const py of fileName.python.split('.')) {
      for (const abi of fileName.abi.split('.'))
        for (const plat of fileName.platform.split('.'))
          if (!tags.includes(`${py}-${abi}-${plat}`)) problems.push(`WHEEL lists no Tag ${py}-${abi}-${plat} (the file name's)`);
    }
  }
  if (record !== undefined) {
    const listed = new Map<string, { hash: string; size: string }>();
    for (const line of record.split(/\r?\n/)) {
      if (!line.trim()) continue;
      const [file, hash = '', size = ''] = parseCsvLine(line);
      listed.set(file, { hash, size });
    }
    for (const e of entries) {
      const r = listed.get(e.name);
      if (e.name === `${dir}/RECORD` || e.name === `${dir}/RECORD.jws` || e.name === `${dir}/RECORD.p7s`) continue;
      if (!r) {
        problems.push(`RECORD does not list ${e.name}`);
        continue;
      }
      const m = /^(sha256|sha384|sha512)=(.+)$/.exec(r.hash);
      if (!m) problems.push(`RECORD has no sha256 for ${e.name}`);
      else if (createHash(m[1]).update(e.data).digest('base64url') !== m[2])
        problems.push(`RECORD's ${m[1]} of ${e.name} does not match the file`);
      if (r.size !== String(e.data.length)) problems.push(`RECORD says ${e.name} is ${r.size} bytes, it is ${e.data.length}`);
    }
    for (const file of listed.keys()) if (!byName.has(file)) problems.push(`RECORD lists ${file}, which is not in the wheel`);
  }
  if (problems.length) throw new WheelCheckError(basename(path), problems);
  return {
    file: path,
    fileName,
    name,
    version,
    metadataVersion: meta.get('metadata-version')?.[0],
    tags,
    files: entries.length,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

export class WheelCheckError extends Error {
  constructor(
    readonly wheel: string,
    readonly problems: string[],
  ) {
    super(`${wheel}: ${problems.join('; ')}`);
    this.name = 'WheelCheckError';
  }
}

/** A zip entry's bytes: stored (0) or deflated (8); undefined for any other compression method. */
function entryData(method: number, raw: Buffer): Buffer | undefined {
  if (method === 0) return Buffer.from(raw);
  if (method === 8) return inflateRawSync(raw);
  return undefined;
}
