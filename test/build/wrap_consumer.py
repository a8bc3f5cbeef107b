#!/usr/bin/env python3
"""Build proof: a project gets ferrite through a wrap file, and a compiler
that cannot build ferrite fails at configure time.

First, the README's [wrap-git] `revision` must name a release of the real
repository: an annotated tag v<version> of the source tree's git
repository, an ancestor of the checked-out commit, whose meson.build
declares that version, and <version> is the version the tree declares. A
tree outside git, or a clone made without tags (CI clones a single branch),
cannot tell: the tag check is skipped and says so, and the release must
still have its CHANGELOG.md entry.

Then, in a scratch directory:

 1. a copy of the tree becomes a git repository with a tag v<version>; a
    consumer project (test/subproject's meson.build and sources) gets
    subprojects/ferrite.wrap and its own native file, both taken from the
    README's "Using ferrite through a wrap file" section (the wrap's url
    pointed at the scratch repository through file://) and a plain
    dependency('ferrite') (no fallback: the wrap's [provide] finds it);
    Meson clones it, the consumer builds (a second ninja run has nothing
    to do, `ninja -t missingdeps` finds no unordered generated file), and
    its programs run (`app`: `import ferrite;`, with the consumer's own
    defaults C++17, exceptions and RTTI; `plain`: no ferrite); test/subproject
    itself, whose subprojects/ferrite is a symlink to the ferrite root,
    configures with ferrite as its subproject;
 2. the README's [wrap-file] form: a tarball made with `git archive` as the
    README says, its sha256 in the wrap, `meson subprojects download`
    unpacks it;
 3. configuring ferrite with CXX=g++ (and with an older clang, when one is
    installed) fails within seconds, before any build file exists, with the
    message that says to use clang >= 16; the consumer configured with
    CXX=g++ fails the same way and names subprojects/ferrite/native/.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402

FIX = 'Use clang >= 16: `CXX=clang++-16 meson setup build`, or `meson setup build --native-file '


def readme_blocks(root):
    """The ```ini blocks of the README's wrap section, by their first line."""
    text = open(os.path.join(root, 'README.md')).read()
    m = re.search(r'^## Using ferrite through a wrap file\n(.*?)(?=^## )', text, re.M | re.S)
    if not m:
        bp.fail('README.md has no "## Using ferrite through a wrap file" section')
    blocks = re.findall(r'^```ini\n(.*?)^```', m.group(1), re.M | re.S)
    return {b.splitlines()[0].strip(): b for b in blocks}


def project_version(root):
    m = re.search(r"^project\('ferrite'.*?version: '([^']+)'", open(os.path.join(root, 'meson.build')).read(), re.S)
    if not m:
        bp.fail("meson.build: no version: in project('ferrite', ...)")
    return m.group(1)


def check_release_tag(root, revision, version):
    """The README's revision is an annotated release tag of root's repository."""
    inside = subprocess.run(['git', '-C', root, 'rev-parse', '--is-inside-work-tree'], capture_output=True, text=True)
    if inside.returncode != 0 or inside.stdout.strip() != 'true':
        bp.log('README revision {}: SKIPPED, {} is not a git checkout (no tags to check)'.format(revision, root))
        return
    def git_out(*args):
        p = subprocess.run(['git', '-C', root] + list(args), capture_output=True, text=True)
        return p.returncode, p.stdout.strip()
    _, tags = git_out('tag', '--list')
    if not tags:
        bp.log('README revision {}: tag check SKIPPED, this clone of {} carries no tags at all '
               '(cloned without them); the CHANGELOG entry was checked'.format(revision, root))
        return
    rc, kind = git_out('cat-file', '-t', 'refs/tags/' + revision)
    if rc != 0:
        bp.fail(('README [wrap-git] revision {0} is not a tag of this repository: a consumer following the '
                 'README cannot fetch it. Tag the release commit (git tag -a {0} <commit> -m "ferrite {1}") '
                 'or name an existing ref in the README.').format(revision, version))
    if kind != 'tag':
        bp.fail('tag {} is a lightweight tag; a release tag is annotated (git tag -a)'.format(revision))
    rc, _ = git_out('merge-base', '--is-ancestor', revision + '^{commit}', 'HEAD')
    if rc != 0:
        bp.fail('tag {} is not in the history of the checked-out commit'.format(revision))
    rc, tagged_build = git_out('show', revision + ':meson.build')
    m = re.search(r"^project\('ferrite'.*?version: '([^']+)'", tagged_build, re.S)
    if rc != 0 or not m or 'v' + m.group(1) != revision:
        bp.fail('tag {}: its meson.build declares version {}'.format(revision, m.group(1) if m else '?'))
    _, commit = git_out('rev-parse', '--short', revision + '^{commit}')
    bp.log('README revision {}: an annotated tag of this repository (commit {}, meson.build version {})'.format(
        revision, commit, m.group(1)))


def git(repo, *args):
    return bp.run(['git', '-C', repo, '-c', 'user.name=ferrite proof', '-c', 'user.email=proof@localhost',
                   '-c', 'init.defaultBranch=main'] + list(args), quiet=True)


def expect_configure_failure(build, src, env_cxx, needle_path, label):
    env = dict(os.environ, CXX=env_cxx)
    env.pop('AR', None)
    t0 = time.monotonic()
    p = subprocess.run(['meson', 'setup', build, src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=env)
    dt = time.monotonic() - t0
    bp.log('$ CXX={} meson setup ({}): exit {} after {:.1f} s'.format(env_cxx, label, p.returncode, dt))
    if p.returncode == 0:
        print(p.stdout[-4000:])
        bp.fail('{}: configuring with CXX={} succeeded; it must fail at configure time'.format(label, env_cxx))
    errors = [l for l in p.stdout.splitlines() if 'ERROR' in l]
    msg = next((l for l in errors if 'ferrite needs clang >= 16' in l), None)
    if msg is None or FIX + needle_path not in msg:
        print(p.stdout[-4000:])
        bp.fail('{}: no "ferrite needs clang >= 16 ... {}{}" error'.format(label, FIX, needle_path))
    if len([l for l in errors if 'Problem encountered' in l]) != 1:
        print(p.stdout[-4000:])
        bp.fail('{}: expected ONE error message'.format(label))
    if dt > 15:
        bp.fail('{}: the failure took {:.1f} s; it must come at configure time'.format(label, dt))
    if os.path.exists(os.path.join(build, 'build.ninja')):
        bp.fail('{}: a build.ninja was written'.format(label))
    bp.log('  ' + msg.split('ERROR: ', 1)[-1])
    return dt


def main():
    args = bp.parse_args(__doc__)
    root = os.path.abspath(args.source_root)
    if not shutil.which('git'):
        bp.fail('git not found (scripts/setup installs it): Meson needs it for [wrap-git]')
    blocks = readme_blocks(root)
    for first in ('[wrap-git]', '[wrap-file]', '[binaries]'):
        if first not in blocks:
            bp.fail('README wrap section: no ```ini block starting with ' + first)
    version = project_version(root)
    m = re.search(r'^revision = (\S+)$', blocks['[wrap-git]'], re.M)
    if not m or m.group(1) != 'v' + version:
        bp.fail('README [wrap-git] example: expected "revision = v{}" (the current version)'.format(version))
    if not re.search(r'^## \[' + re.escape(version) + r'\]', open(os.path.join(root, 'CHANGELOG.md')).read(), re.M):
        bp.fail('CHANGELOG.md has no "## [{}]" entry for the version meson.build declares'.format(version))
    check_release_tag(root, m.group(1), version)
    with bp.Scratch('wrap', args.keep) as scratch:
        repo = os.path.join(scratch, 'ferrite')
        bp.copy_tree(root, repo)
        git(repo, 'init', '-q')
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'ferrite ' + version)
        git(repo, 'tag', 'v' + version)
        url = 'file://' + repo

        # -- 1. [wrap-git] -------------------------------------------------
        consumer = os.path.join(scratch, 'consumer')
        os.makedirs(os.path.join(consumer, 'subprojects'))
        for f in ('meson.build', 'app.cpp', 'plain.cpp'):
            shutil.copy(os.path.join(root, 'test', 'subproject', f), consumer)
        # No fallback: the wrap's [provide] section must be what finds ferrite.
        bp.edit(os.path.join(consumer, 'meson.build'), r"dependency\('ferrite', fallback: \['ferrite', 'ferrite_dep'\],",
                "dependency('ferrite',")
        wrap = re.sub(r'^url = .*$', 'url = ' + url, blocks['[wrap-git]'], flags=re.M)
        with open(os.path.join(consumer, 'subprojects', 'ferrite.wrap'), 'w') as f:
            f.write(wrap)
        native = os.path.join(consumer, 'clang16.ini')
        with open(native, 'w') as f:
            f.write(blocks['[binaries]'])
        build = os.path.join(scratch, 'build')
        bp.meson_setup(consumer, build, native)
        if not os.path.isfile(os.path.join(consumer, 'subprojects', 'ferrite', 'meson.build')):
            bp.fail('Meson did not clone ferrite into subprojects/ferrite')
        bp.ninja(build, '-j2')
        bp.assert_no_work(build)
        bp.assert_missingdeps_clean(build)
        app = bp.run([os.path.join(build, 'app')])
        plain = bp.run([os.path.join(build, 'plain')])
        print(app + plain, end='')
        if not app.rstrip().endswith(' ok'):
            bp.fail('the consumer app did not report ok')

        # -- 1b. the same consumer with ferrite in-tree ----------------------
        # test/subproject/ as it is in the tree: subprojects/ferrite is a
        # symlink to the ferrite root and dependency() falls back to it. Its
        # sources are the ones step 1 built, so configuring it is the proof.
        intree = os.path.join(repo, 'test', 'subproject')
        link = os.path.join(intree, 'subprojects', 'ferrite')
        if not os.path.islink(link) or os.path.realpath(link) != os.path.realpath(repo):
            bp.fail('test/subproject/subprojects/ferrite must be a symlink to the ferrite root (../../..)')
        out = bp.run(['meson', 'setup', os.path.join(scratch, 'build-intree'), intree, '--native-file',
                      os.path.join(repo, 'native', 'clang16.ini')])
        if not re.search(r'Subproject ferrite finished', out):
            bp.fail('test/subproject/ did not configure ferrite as its subproject')

        # -- 2. [wrap-file] ------------------------------------------------
        tarball = os.path.join(scratch, 'ferrite-{}.tar.gz'.format(version))
        git(repo, 'archive', '--prefix=ferrite-{}/'.format(version), '-o', tarball, 'v' + version)
        sha = hashlib.sha256(open(tarball, 'rb').read()).hexdigest()
        consumer2 = os.path.join(scratch, 'consumer2')
        os.makedirs(os.path.join(consumer2, 'subprojects'))
        shutil.copy(os.path.join(root, 'test', 'subproject', 'meson.build'), consumer2)
        wrap = re.sub(r'^source_url = .*$', 'source_url = file://' + tarball, blocks['[wrap-file]'], flags=re.M)
        wrap = re.sub(r'^source_hash = .*$', 'source_hash = ' + sha, wrap, flags=re.M)
        with open(os.path.join(consumer2, 'subprojects', 'ferrite.wrap'), 'w') as f:
            f.write(wrap)
        bp.run(['meson', 'subprojects', 'download', 'ferrite'], cwd=consumer2)
        m = re.search(r'^directory = (.*)$', wrap, re.M)
        unpacked = os.path.join(consumer2, 'subprojects', m.group(1).strip() if m else 'ferrite')
        if not os.path.isfile(os.path.join(unpacked, 'meson.build')):
            bp.fail('[wrap-file]: the tarball was not unpacked into ' + unpacked)
        bp.log('[wrap-file]: unpacked into subprojects/' + os.path.basename(unpacked))

        # -- 3. compilers that cannot build ferrite ------------------------
        dt = expect_configure_failure(os.path.join(scratch, 'build-gcc'), repo, 'g++', 'native/clang16.ini',
                                      'ferrite')
        expect_configure_failure(os.path.join(scratch, 'build-consumer-gcc'), consumer, 'g++',
                                 'subprojects/ferrite/native/clang16.ini', 'consumer')
        old = shutil.which('clang++')
        if old:
            v = subprocess.run([old, '--version'], capture_output=True, text=True).stdout
            m = re.search(r'clang version (\d+)', v)
            if m and int(m.group(1)) < 16:
                expect_configure_failure(os.path.join(scratch, 'build-clang-old'), repo, 'clang++',
                                         'native/clang16.ini', 'ferrite, clang ' + m.group(1))
    bp.log('wrap_consumer: OK (g++ refused after {:.1f} s)'.format(dt))


if __name__ == '__main__':
    main()
