import { parseVersion } from './semver';

/**
 * SemVer → PEP 440 (https://peps.python.org/pep-0440/), the form pip, wheels and Python
 * version files need: `1.3.0-rc.2` → `1.3.0rc2`, `1.3.0-dev.7` → `1.3.0.dev7`,
 * `1.3.0-alpha.1` → `1.3.0a1`, `1.3.0-beta.1` → `1.3.0b1`. Any other label (a branch's) becomes a
 * dev release numbered `devNumber` when given (the pipeline's Build.BuildId, unique in the
 * organization, so two branches built at once never publish the same version), else the
 * label's own number: `1.3.0-feature-x.3` → `1.3.0.dev4711`. Never a `+local` part for a
 * label: PyPI and Azure Artifacts refuse local versions on upload.
 */
const PRE_MAP: Record<string, string> = { rc: 'rc', c: 'rc', alpha: 'a', a: 'a', beta: 'b', b: 'b' };

export function toPep440(semver: string, opts: { devNumber?: number } = {}): string {
  const v = parseVersion(semver);
  if (!v) throw new Error(`not a SemVer version: ${semver}`);
  const release = `${v.major}.${v.minor}.${v.patch}`;
  const local = v.build.length
    ? `+${v.build
        .join('.')
        .toLowerCase()
        .replace(/[^0-9a-z.]/g, '.')}`
    : '';
  if (!v.prerelease.length) return release + local;
  const [label, ...rest] = v.prerelease.map(String);
  const number = rest.find((p) => /^\d+$/.test(p)) ?? '0';
  const lower = label.toLowerCase();
  if (PRE_MAP[lower]) return `${release}${PRE_MAP[lower]}${Number(number)}${local}`;
  if (lower === 'dev') return `${release}.dev${Number(number)}${local}`;
  if (/^\d+$/.test(label)) return `${release}.dev${Number(label)}${local}`;
  return `${release}.dev${opts.devNumber ?? Number(number)}${local}`;
}

/**
 * Why `semver` has no publishable PEP 440 form of its own, or undefined when it has one.
 * Build metadata (`+build.5`) would become a local version, which PyPI and Azure Artifacts
 * refuse; a known pre-release label with more than one identifier after it (`rc.2.3`, `rc.x.2`)
 * would lose all but one number, so `1.3.0-rc.2.3` and `1.3.0-rc.2.4` would both be `1.3.0rc2`.
 */
export function unpublishablePep440(semver: string): string | undefined {
  const v = parseVersion(semver);
  if (!v) return undefined;
  if (v.build.length)
    return `its build metadata (+${v.build.join('.')}) would become a PEP 440 local version (${toPep440(semver)}), which package feeds refuse`;
  if (!v.prerelease.length) return undefined;
  const [label, ...rest] = v.prerelease.map(String);
  const lower = label.toLowerCase();
  const known = PRE_MAP[lower] !== undefined || lower === 'dev' || /^\d+$/.test(label);
  if (!known) return undefined; // a branch label: numbered with the build id, unique
  const oneNumber = rest.length === 0 || (rest.length === 1 && /^\d+$/.test(rest[0]) && !/^\d+$/.test(label));
  if (oneNumber) return undefined;
  return `PEP 440 keeps one number after '${label}', so ${semver} would become ${toPep440(semver)} like other versions that differ only after it`;
}
