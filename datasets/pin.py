#!/usr/bin/env python3
"""Pins a recipe: fills in the SHA-256 of each package's .deb and of every file used.

    python3 datasets/pin.py datasets/linux-doc.json [--debs DIR]

A recipe names its packages (package, version, arch) and, per package, either
"files" (paths, in the order the decoder wants them) or "select": {"include":
[globs], "exclude": [globs]} matched against the paths inside the package
(fnmatch: '*' also crosses '/'). The tool downloads each .deb with `apt-get
download pkg=version` (kept in --debs), extracts it, and writes the hashes: into
"files" when a package uses at most 16 files, else into a sha256sum-format list
<recipe>.<package>.files beside the recipe ("files_list"). Re-pinning to a new
version = edit "version", run this again, commit the recipe and its list. This
is a maintenance tool; `pq data build` never runs it and only checks the pins.
"""
import argparse, fnmatch, hashlib, json, os, subprocess, sys, tempfile

INLINE_MAX = 16


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def deb_name(pkg, version, arch):
    return '%s_%s_%s.deb' % (pkg, version.replace(':', '%3a'), arch)


def fetch(pkg, version, arch, debs):
    path = os.path.join(debs, deb_name(pkg, version, arch))
    if not os.path.exists(path):
        cmd = ['apt-get', 'download', '-q', '%s=%s' % (pkg, version)]
        if os.geteuid() == 0:
            cmd[2:2] = ['-o', 'APT::Sandbox::User=root']
        subprocess.run(cmd, cwd=debs, check=True, stdout=subprocess.DEVNULL)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('recipe')
    ap.add_argument('--debs', default=os.path.join(tempfile.gettempdir(), 'pq-pin-debs'))
    a = ap.parse_args()
    os.makedirs(a.debs, exist_ok=True)
    with open(a.recipe) as f:
        r = json.load(f)
    folder = os.path.dirname(os.path.abspath(a.recipe))
    for p in r['packages']:
        deb = fetch(p['package'], p['version'], p['arch'], a.debs)
        p['deb_sha256'] = sha256(deb)
        with tempfile.TemporaryDirectory() as x:
            subprocess.run(['dpkg-deb', '-x', deb, x], check=True)
            if 'select' in p:
                inc, exc = p['select'].get('include', []), p['select'].get('exclude', [])
                chosen = []
                for dirpath, _, names in os.walk(x):
                    for n in names:
                        full = os.path.join(dirpath, n)
                        rel = os.path.relpath(full, x)
                        if os.path.islink(full) or not os.path.isfile(full):
                            continue
                        if any(fnmatch.fnmatchcase(rel, g) for g in inc) and not any(fnmatch.fnmatchcase(rel, g) for g in exc):
                            chosen.append(rel)
                chosen.sort()
            else:
                chosen = [f['path'] for f in p['files']]
            if not chosen:
                sys.exit('%s: package %s: no file selected' % (a.recipe, p['package']))
            pinned = [{'path': rel, 'sha256': sha256(os.path.join(x, rel))} for rel in chosen]
        p.pop('files', None)
        p.pop('files_list', None)
        if len(pinned) <= INLINE_MAX:
            p['files'] = pinned
        else:
            list_name = '%s.%s.files' % (r['name'], p['package'])
            with open(os.path.join(folder, list_name), 'w') as f:
                for e in pinned:
                    f.write('%s  %s\n' % (e['sha256'], e['path']))
            p['files_list'] = list_name
        print('%s: %s %s: %d files' % (a.recipe, p['package'], p['version'], len(pinned)), file=sys.stderr)
    with open(a.recipe + '.tmp', 'w') as f:
        json.dump(r, f, indent=2)
        f.write('\n')
    os.replace(a.recipe + '.tmp', a.recipe)


if __name__ == '__main__':
    main()
