#!/usr/bin/env python3
"""The ferrite command, driven as a user drives it.

    test_tool.py FERRITE [unittest options]

Every subcommand and every documented error: exit codes (0 ok, 1 damaged or
not found, 2 usage or bad input), the one-line message on stderr, and that a
failing command leaves the image byte for byte as it was. Python stdlib only.
"""
import base64
import fcntl
import hashlib
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import unittest

FERRITE = None
# The key where a restore records its progress in the store it fills (docs/FORMAT.md §10.6).
RESTORE_MARKER = (b'\xff' + b'ferrite/restore').hex()

CSV = '''key,type,encoding,value
# a comment line
cfg,namespace,,
u8,data,u8,200
i8,data,i8,-100
u16,data,u16,60000
i16,data,i16,-30000
u32,data,u32,0xFFFFFFFF
i32,data,i32,-2000000000
u64,data,u64,18446744073709551615
i64,data,i64,-9223372036854775808
f,data,float,0.1
d,data,double,0.30000000000000004
s,data,string,"hello, ""world"""
hx,data,hex2bin,00ff10
b64,data,base64,AAEC
flag,data,bool,true
'''


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class ToolTest(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix='ferrite-tool-')
        self.dir = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        mode = 'wb' if isinstance(data, bytes) else 'w'
        with open(self.path(name), mode) as f:
            f.write(data)
        return self.path(name)

    def run_ferrite(self, *args, env=None, code=0, err=None):
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run([FERRITE] + [str(a) for a in args], capture_output=True, text=True, env=e,
                           cwd=self.dir)
        self.assertEqual(r.returncode, code, 'ferrite {}: exit {} (stderr: {})'.format(
            ' '.join(map(str, args)), r.returncode, r.stderr))
        if err is not None:
            self.assertIn(err, r.stderr)
        if code != 0:
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, 'one error line, got: ' + r.stderr)
            self.assertTrue(lines[0].startswith('ferrite: '), lines[0])
        return r

    def image(self, name='a.img', geometry='esp32-4k', csv=CSV, extra=()):
        src = self.write(name + '.csv', csv)
        self.run_ferrite('create', self.path(name), '--geometry', geometry, '--from', src, *extra)
        return self.path(name)

    def only_files(self, *names):
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(names))

    def export(self, img, *extra):
        return json.loads(self.run_ferrite('export', img, *extra).stdout)

    def entry(self, doc, key):
        return next(e for e in doc['keys'] if e.get('key') == key)

    # -- help and usage -------------------------------------------------
    def test_help_lists_every_command_and_each_command_has_help(self):
        out = self.run_ferrite('--help').stdout
        for c in ['create', 'info', 'ls', 'get', 'put', 'rm', 'verify', 'dump', 'export', 'import', 'find', 'insert',
                  'export-docs', 'import-docs', 'backup', 'verify-backup', 'restore', 'geometries']:
            self.assertIn('  ' + c + ' ', out)
            self.assertIn('usage: ferrite ' + c, self.run_ferrite(c, '--help').stdout)

    def test_create_help_and_geometries_list_the_presets(self):
        for out in (self.run_ferrite('geometries').stdout, self.run_ferrite('create', '--help').stdout):
            for p, spec in [('stm32f4-2x16k', '2x16k@4'), ('stm32f4-4x16k+64k', '4x16k+1x64k@4'),
                            ('nrf52-4x4k', '4x4k@4'), ('esp32-4k', '6x4k@4')]:
                self.assertIn(p, out)
                self.assertIn(spec, out)

    def test_an_unknown_command_option_or_missing_argument_is_usage(self):
        self.run_ferrite('frobnicate', code=2, err='unknown command')
        self.run_ferrite('ls', 'x.img', '--bogus', code=2, err='ferrite: ls: unknown option')
        self.run_ferrite('get', 'x.img', code=2, err='ferrite: get: missing argument')
        self.run_ferrite('ls', code=2)
        self.run_ferrite(code=2)

    def test_a_missing_image_is_not_found(self):
        self.run_ferrite('ls', self.path('none.img'), code=1, err='No such file')

    # -- geometry ---------------------------------------------------------
    def test_create_accepts_specs_with_runs_k_sizes_and_erased_00(self):
        for spec, size in [('8x4096@4', 32768), ('4x16k+1x64k@4', 131072), ('16x4k@16,erased=00', 65536),
                           ('4x1k@1', 4096)]:
            img = self.path('g.img')
            self.run_ferrite('create', img, '--geometry', spec, '--force')
            self.assertEqual(os.path.getsize(img), size)
            out = self.run_ferrite('info', img, '--geometry', spec).stdout
            self.assertIn('geometry', out)
        info = self.run_ferrite('info', img, '--geometry', '4x1k@1').stdout
        self.assertIn('4x1k@1', info)
        self.run_ferrite('create', img, '--geometry', '16x4k@16,erased=00', '--force')
        self.assertIn('erased 00', self.run_ferrite('info', img).stdout)

    def test_malformed_geometry_specs_are_usage_errors(self):
        for spec in ['8x4096', '8x4096@3', '8x4096@4,erased=11', 'x4096@4', '8xk@4', '1x4096@4', '8x4098@4',
                     '1x1+1x1+1x1+1x1+1x1+1x1+1x1+1x1+1x1@1', 'nosuchpreset']:
            self.run_ferrite('create', self.path('g.img'), '--geometry', spec, code=2, err='geometry')
            self.assertFalse(os.path.exists(self.path('g.img')))

    def test_a_geometry_mismatch_names_both_geometries(self):
        img = self.image()
        r = self.run_ferrite('ls', img, '--geometry', '12x2k@4', code=2, err='geometry mismatch')
        self.assertIn('12x2k@4', r.stderr)
        self.assertIn('6x4k@4', r.stderr)
        self.run_ferrite('ls', img, '--geometry', '6x4k@8', code=2, err='geometry mismatch')
        self.run_ferrite('ls', img, '--geometry', '6x4k@4,erased=00', code=2, err='geometry mismatch')
        self.run_ferrite('ls', img, '--geometry', '3x4k@4', code=2, err='geometry mismatch')

    def test_a_non_uniform_image_needs_geometry_and_says_so(self):
        img = self.path('n.img')
        self.run_ferrite('create', img, '--geometry', 'stm32f4-4x16k+64k')
        self.run_ferrite('ls', img, code=2, err='non-uniform image needs --geometry')
        self.run_ferrite('ls', img, '--geometry', 'stm32f4-4x16k+64k')

    def test_a_truncated_image_is_damage(self):
        img = self.image()
        with open(img, 'rb') as f:
            data = f.read()
        for size in (20000, 20480):
            t = self.write('t.img', data[:size])
            self.run_ferrite('ls', t, code=1, err='truncated')
        self.run_ferrite('ls', t, '--geometry', 'esp32-4k', code=1, err='truncated')

    def test_files_that_are_not_ferrite_images_are_refused(self):
        self.run_ferrite('ls', self.write('r.img', os.urandom(24576)), code=2, err='not a ferrite image')
        self.run_ferrite('ls', self.write('b.img', b'\xff' * 8192), code=2, err='blank')
        self.run_ferrite('ls', self.write('e.img', b''), code=2, err='empty')
        self.run_ferrite('info', self.write('j.img', b'{"json": true}\n' * 100), code=2, err='not a ferrite image')

    # -- create -------------------------------------------------------------
    def test_create_from_csv_stores_every_encoding_with_its_type(self):
        img = self.image()
        rows = [l.split() for l in self.run_ferrite('ls', img).stdout.splitlines()]
        types = {r[0]: (r[1], int(r[2])) for r in rows}
        self.assertEqual(types['cfg/u8'], ('u8', 1))
        self.assertEqual(types['cfg/i64'], ('i64', 8))
        self.assertEqual(types['cfg/f'], ('float', 4))
        self.assertEqual(types['cfg/s'], ('string', 14))
        self.assertEqual(types['cfg/hx'], ('untyped', 3))
        self.assertEqual(types['cfg/flag'], ('bool', 1))
        get = lambda k: self.run_ferrite('get', img, k).stdout.rstrip('\n')
        self.assertEqual(get('cfg/u32'), '4294967295')
        self.assertEqual(get('cfg/u64'), '18446744073709551615')
        self.assertEqual(get('cfg/i64'), '-9223372036854775808')
        self.assertEqual(get('cfg/d'), '0.30000000000000004')
        self.assertEqual(get('cfg/f'), '0.1')
        self.assertEqual(get('cfg/s'), 'hello, "world"')
        self.assertEqual(get('cfg/hx'), '00ff10')
        self.assertEqual(get('cfg/b64'), '000102')

    def test_create_from_csv_reads_file_rows(self):
        self.write('blob.bin', b'\x00\x01\x02\xff')
        self.write('text.txt', 'from a file')
        img = self.image(csv='key,type,encoding,value\nbin,file,binary,blob.bin\ntxt,file,string,text.txt\n')
        self.assertEqual(self.run_ferrite('get', img, 'bin').stdout.strip(), '000102ff')
        self.assertEqual(self.run_ferrite('get', img, 'txt', '--type', 'string').stdout.strip(), 'from a file')

    def test_create_refuses_an_existing_file_without_force(self):
        img = self.image()
        before = digest(img)
        self.run_ferrite('create', img, '--geometry', 'esp32-4k', code=2, err='--force')
        self.assertEqual(digest(img), before)
        self.run_ferrite('create', img, '--geometry', 'esp32-4k', '--force')
        self.assertEqual(self.run_ferrite('ls', img).stdout, '')

    def test_create_needs_a_geometry(self):
        self.run_ferrite('create', self.path('x.img'), code=2, err='--geometry')

    def test_a_bad_csv_line_names_line_and_key_and_leaves_no_image(self):
        cases = [
            ('key,type,encoding,value\na,data,u8,1\nb,data,u8,256\n', 'line 3', "key 'b'", 'out of range'),
            ('key,type,encoding,value\na,data,u9,1\n', 'line 2', 'unknown encoding', ''),
            ('key,type,encoding,value\na,data,hex2bin,0g\n', 'line 2', "key 'a'", 'not hex'),
            ('key,type,encoding,value\na,data,string,"open\n', 'line 2', 'unterminated', ''),
            ('key,type,encoding,value\n' + 'k' * 65 + ',data,u8,1\n', 'line 2', 'at most 64', ''),
            ('key,value\na,1\n', 'line 1', 'key,type,encoding,value', ''),
            ('key,type,encoding,value\na,blob,u8,1\n', 'line 2', 'type', ''),
            ('key,type,encoding,value\na,file,binary,missing.bin\n', 'line 2', 'missing.bin', ''),
        ]
        for csv, *needles in cases:
            src = self.write('bad.csv', csv)
            r = self.run_ferrite('create', self.path('x.img'), '--geometry', 'esp32-4k', '--from', src, code=2)
            for n in needles:
                self.assertIn(n, r.stderr)
            self.only_files('bad.csv')

    def test_a_value_too_large_for_the_geometry_names_line_and_key_and_leaves_no_image(self):
        src = self.write('big.csv', 'key,type,encoding,value\nsmall,data,u8,1\nhuge,data,string,' + 'x' * 5000 + '\n')
        r = self.run_ferrite('create', self.path('x.img'), '--geometry', 'esp32-4k', '--from', src, code=2)
        self.assertIn('line 3', r.stderr)
        self.assertIn("key 'huge'", r.stderr)
        self.assertIn('limit', r.stderr)
        self.only_files('big.csv')

    def test_a_full_store_fails_create_and_leaves_no_image(self):
        rows = ''.join('key{},data,hex2bin,{}\n'.format(i, '00' * 200) for i in range(200))
        src = self.write('full.csv', 'key,type,encoding,value\n' + rows)
        self.run_ferrite('create', self.path('x.img'), '--geometry', 'nrf52-4x4k', '--from', src, code=2,
                         err='full.csv line')
        self.only_files('full.csv')

    def test_malformed_json_gives_line_and_column(self):
        src = self.write('bad.json', '{\n "keys": [\n  {"key": "a", "type": "u8", "value": 1},\n  {"key": "b" "type"}\n ]\n}\n')
        self.run_ferrite('create', self.path('x.img'), '--geometry', 'esp32-4k', '--from', src, code=2,
                         err='bad.json line 4, column 15')
        src = self.write('bad2.json', '{"keys": [\n {"key": "a", "type": "u8", "value": 1},\n {"key": "b", "type": "u8", "value": -1}]}')
        self.run_ferrite('create', self.path('x.img'), '--geometry', 'esp32-4k', '--from', src, code=2,
                         err="bad2.json line 3, column 2 (key 'b')")
        src = self.write('bad4.json', '{"note": {"a": [{}, {}]},\n "keys": [{"key": "a", "type": "u8", "value": 1},\n'
                                      '  {"key": "b", "type": "u8", "value": 300}]}')
        self.run_ferrite('create', self.path('x.img'), '--geometry', 'esp32-4k', '--from', src, code=2,
                         err="bad4.json line 3, column 3 (key 'b')")
        src = self.write('bad3.json', '{"keys": [{"key": "a", "type": "quaternion", "value": 1}]}')
        self.run_ferrite('create', self.path('x.img'), '--geometry', 'esp32-4k', '--from', src, code=2,
                         err='unknown type')
        self.only_files('bad.json', 'bad2.json', 'bad3.json', 'bad4.json')

    def test_an_image_in_use_by_another_process_is_refused_and_untouched(self):
        img = self.image()
        before = digest(img)
        with open(img + '.lock', 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock.write('{}\n'.format(os.getpid()))
            lock.flush()
            self.run_ferrite('put', img, 'x', '1', '--type', 'u8', code=2, err='in use')
            self.run_ferrite('ls', img, code=2, err='in use')
        os.unlink(img + '.lock')
        self.assertEqual(digest(img), before)
        self.run_ferrite('put', img, 'x', '1', '--type', 'u8')
        self.only_files('a.img', 'a.img.csv')

    # -- info ---------------------------------------------------------------
    def test_info_shows_geometry_format_sectors_space_keys_and_damage(self):
        img = self.image()
        out = self.run_ferrite('info', img).stdout
        for needle in ['6x4k@4', 'version 1', 'crypto       none', 'live', 'sequence', 'erase count', 'keys         14',
                       'reclaimable', '0 corrupt records', 'value limit']:
            self.assertIn(needle, out)

    # -- put, get, rm, ls ---------------------------------------------------
    def test_put_and_get_every_type(self):
        img = self.image(csv='key,type,encoding,value\n')
        cases = [('u8', '255', '255'), ('i8', '-128', '-128'), ('u16', '65535', '65535'), ('i16', '-1', '-1'),
                 ('u32', '123456789', '123456789'), ('i32', '-5', '-5'), ('u64', '9007199254740993', '9007199254740993'),
                 ('i64', '-9007199254740993', '-9007199254740993'), ('float', '1.5', '1.5'),
                 ('double', '2.718281828459045', '2.718281828459045'), ('bool', 'false', 'false'),
                 ('string', 'héllo', 'héllo'), ('hex', 'deadbeef', 'deadbeef'), ('blob', '0102', '0102')]
        for t, text, shown in cases:
            self.run_ferrite('put', img, 'k/' + t, text, '--type', t)
            self.assertEqual(self.run_ferrite('get', img, 'k/' + t).stdout.rstrip('\n'), shown)
        self.write('v.bin', b'\x00\xff')
        self.run_ferrite('put', img, 'k/file', 'v.bin', '--type', 'file')
        self.assertEqual(self.run_ferrite('get', img, 'k/file').stdout.strip(), '00ff')
        self.assertEqual(len(self.run_ferrite('ls', img, 'k/').stdout.splitlines()), len(cases) + 1)

    def test_a_failing_put_leaves_the_image_byte_identical(self):
        img = self.image()
        before = digest(img)
        self.run_ferrite('put', img, 'x', '256', '--type', 'u8', code=2, err="key 'x'")
        self.run_ferrite('put', img, 'x', 'abc', '--type', 'u32', code=2, err='not an integer')
        self.run_ferrite('put', img, 'x', 'x' * 5000, '--type', 'string', code=2, err='limit')
        self.run_ferrite('put', img, 'k' * 65, '1', '--type', 'u8', code=2, err='at most 64')
        self.run_ferrite('put', img, 'x', '1', code=2, err='--type')
        self.run_ferrite('put', img, 'x', '1', '--type', 'complex', code=2, err='unknown type')
        self.assertEqual(digest(img), before)
        self.only_files('a.img', 'a.img.csv')

    def test_put_replaces_the_image_only_on_success(self):
        img = self.image()
        before = digest(img)
        self.run_ferrite('put', img, 'cfg/u8', '7', '--type', 'u8')
        self.assertNotEqual(digest(img), before)
        self.assertEqual(self.run_ferrite('get', img, 'cfg/u8').stdout.strip(), '7')
        self.only_files('a.img', 'a.img.csv')

    def test_get_checks_the_type_and_writes_raw_bytes_with_out(self):
        img = self.image()
        self.run_ferrite('get', img, 'cfg/u8', '--type', 'u16', code=2, err='is u8, not u16')
        self.run_ferrite('get', img, 'cfg/u8', '--type', 'u8')
        self.run_ferrite('get', img, 'cfg/hx', '--out', self.path('o.bin'))
        with open(self.path('o.bin'), 'rb') as f:
            self.assertEqual(f.read(), b'\x00\xff\x10')

    def test_get_of_a_missing_key_is_not_found(self):
        img = self.image()
        self.run_ferrite('get', img, 'nope', code=1, err="key 'nope' not found")

    def test_rm_erases_a_key_and_a_missing_key_is_not_found(self):
        img = self.image()
        self.run_ferrite('rm', img, 'cfg/u8')
        self.run_ferrite('get', img, 'cfg/u8', code=1)
        before = digest(img)
        self.run_ferrite('rm', img, 'cfg/u8', code=1, err='not found')
        self.assertEqual(digest(img), before)

    def test_ls_lists_keys_in_order_with_prefix(self):
        img = self.image(csv='key,type,encoding,value\nb/2,data,u8,1\na/1,data,u16,1\nb/1,data,string,xyz\n')
        self.assertEqual([l.split() for l in self.run_ferrite('ls', img).stdout.splitlines()],
                         [['a/1', 'u16', '2'], ['b/1', 'string', '3'], ['b/2', 'u8', '1']])
        self.assertEqual([l.split()[0] for l in self.run_ferrite('ls', img, 'b/').stdout.splitlines()], ['b/1', 'b/2'])
        self.assertEqual(self.run_ferrite('ls', img, 'zzz').stdout, '')

    def test_binary_keys_show_and_are_named_as_hex(self):
        img = self.image(csv='key,type,encoding,value\n')
        self.run_ferrite('put', img, 'hex:01ff', '2a', '--type', 'hex')
        self.assertIn('hex:01ff', self.run_ferrite('ls', img).stdout)
        self.assertEqual(self.run_ferrite('get', img, 'hex:01ff').stdout.strip(), '2a')
        self.assertEqual(self.export(img)['keys'][0]['key_hex'], '01ff')

    # -- export and import --------------------------------------------------
    def test_export_and_import_round_trip_typed_values_exactly(self):
        img = self.image()
        doc = self.export(img)
        self.assertEqual(doc['format'], 'ferrite-export')
        self.assertEqual(self.entry(doc, 'cfg/u64')['value'], 18446744073709551615)
        self.assertEqual(self.entry(doc, 'cfg/i64')['value'], -9223372036854775808)
        self.assertEqual(self.entry(doc, 'cfg/d')['bits'], '3fd3333333333334')
        self.assertEqual(self.entry(doc, 'cfg/d')['value'], 0.30000000000000004)
        self.assertEqual(self.entry(doc, 'cfg/f')['bits'], '3dcccccd')
        self.assertEqual(self.entry(doc, 'cfg/hx')['hex'], '00ff10')
        self.assertEqual(self.entry(doc, 'cfg/flag')['value'], True)
        out = self.path('e.json')
        self.run_ferrite('export', img, '--out', out)
        self.run_ferrite('create', self.path('b.img'), '--geometry', '8x4k@4', '--from', out)
        self.assertEqual(self.export(self.path('b.img')), doc)
        self.run_ferrite('create', self.path('c.img'), '--geometry', 'esp32-4k')
        self.run_ferrite('import', self.path('c.img'), out)
        self.assertEqual(self.export(self.path('c.img')), doc)

    def test_import_takes_bits_over_value_and_non_finite_doubles(self):
        doc = {'keys': [
            {'key': 'nan', 'type': 'double', 'value': 'nan', 'bits': '7ff8000000000001'},
            {'key': 'neg0', 'type': 'double', 'value': 0, 'bits': '8000000000000000'},
            {'key': 'inf', 'type': 'float', 'bits': '7f800000'},
            {'key': 'plain', 'type': 'double', 'value': 1e300},
            {'key': 'b64', 'type': 'untyped', 'base64': 'AAEC'},
            {'key': 'big', 'type': 'u64', 'value': '18446744073709551615'},
        ]}
        src = self.write('in.json', json.dumps(doc))
        img = self.image(csv='key,type,encoding,value\n')
        self.run_ferrite('import', img, src)
        out = self.export(img)
        self.assertEqual(self.entry(out, 'nan')['bits'], '7ff8000000000001')
        self.assertEqual(self.entry(out, 'nan')['value'], 'nan')
        self.assertEqual(self.entry(out, 'neg0')['bits'], '8000000000000000')
        self.assertEqual(self.entry(out, 'inf')['value'], 'inf')
        self.assertEqual(self.entry(out, 'plain')['value'], 1e300)
        self.assertEqual(self.entry(out, 'b64')['hex'], '000102')
        self.assertEqual(self.entry(out, 'big')['value'], 18446744073709551615)

    def test_an_import_with_a_bad_line_50_leaves_the_image_byte_identical(self):
        img = self.image()
        before = digest(img)
        lines = ['{"keys": [']
        for i in range(60):
            value = 1000 if i == 48 else i
            lines.append('{{"key": "n{}", "type": "u8", "value": {}}}{}'.format(i, value, ',' if i < 59 else ''))
        lines.append(']}')
        src = self.write('bad.json', '\n'.join(lines) + '\n')
        self.run_ferrite('import', img, src, code=2, err="bad.json line 50, column 1 (key 'n48')")
        self.assertEqual(digest(img), before)
        csv_rows = ['key,type,encoding,value'] + ['n{},data,u8,{}'.format(i, 999 if i == 48 else i) for i in range(60)]
        src = self.write('bad.csv', '\n'.join(csv_rows) + '\n')
        self.run_ferrite('import', img, src, code=2, err="bad.csv line 50")
        self.assertEqual(digest(img), before)
        self.only_files('a.img', 'a.img.csv', 'bad.json', 'bad.csv')

    def test_an_import_that_overflows_the_store_leaves_the_image_byte_identical(self):
        img = self.image(geometry='nrf52-4x4k')
        before = digest(img)
        doc = {'keys': [{'key': 'k{}'.format(i), 'type': 'blob', 'hex': '00' * 300} for i in range(100)]}
        self.run_ferrite('import', img, self.write('big.json', json.dumps(doc)), code=2, err='big.json line')
        self.assertEqual(digest(img), before)

    def test_import_replace_erases_the_keys_the_file_does_not_hold(self):
        img = self.image()
        src = self.write('one.json', json.dumps({'keys': [{'key': 'only', 'type': 'u8', 'value': 1}]}))
        self.run_ferrite('import', img, src)
        self.assertEqual(len(self.export(img)['keys']), 15)
        self.run_ferrite('import', img, src, '--replace')
        self.assertEqual([e['key'] for e in self.export(img)['keys']], ['only'])

    def test_a_non_utf8_string_exports_as_hex_and_imports_back(self):
        doc = {'keys': [{'key': 's', 'type': 'string', 'hex': 'ff00'}]}
        img = self.image(csv='key,type,encoding,value\n')
        self.run_ferrite('import', img, self.write('s.json', json.dumps(doc)))
        self.assertEqual(self.export(img)['keys'], doc['keys'])

    def test_no_progress_bar_when_stderr_is_not_a_terminal(self):
        img = self.image()
        self.assertEqual(self.run_ferrite('export', img).stderr, '')
        self.assertEqual(self.run_ferrite('verify', img).stderr, '')

    def test_a_progress_bar_is_drawn_when_stderr_is_a_terminal(self):
        rows = ''.join('k{:03},data,u16,{}\n'.format(i, i) for i in range(300))
        img = self.image(geometry='8x4k@4', csv='key,type,encoding,value\n' + rows)
        master, slave = pty.openpty()
        p = subprocess.Popen([FERRITE, 'export', img], stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        out, drawn = p.stdout.read(), b''
        p.wait()
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(len(json.loads(out)['keys']), 300)
        self.assertIn(b'export [', drawn)
        self.assertIn(b'100%', drawn)

    # -- documents ----------------------------------------------------------
    def test_insert_creates_the_collection_and_find_answers_queries(self):
        img = self.path('d.img')
        self.run_ferrite('create', img, '--geometry', '8x4k@4')
        first = int(self.run_ferrite('insert', img, 'people', '{"name": "Ada", "age": 36}').stdout)
        self.run_ferrite('insert', img, 'people', '{"name": "Bob", "age": 25}')
        found = [json.loads(l) for l in self.run_ferrite('find', img, 'people', '{"age": {"$gt": 30}}').stdout.splitlines()]
        self.assertEqual([(d['_id'], d['name']) for d in found], [(first, 'Ada')])
        self.assertEqual(len(self.run_ferrite('find', img, 'people', '{}').stdout.splitlines()), 2)
        self.assertEqual(len(self.run_ferrite('find', img, 'people', '{}', '--limit', '1').stdout.splitlines()), 1)

    def test_find_in_a_missing_collection_is_not_found_and_bad_json_is_usage(self):
        img = self.path('d.img')
        self.run_ferrite('create', img, '--geometry', '8x4k@4')
        self.run_ferrite('find', img, 'nobody', '{}', code=1, err="no collection 'nobody'")
        self.run_ferrite('find', img, 'people', '{"age": ', code=2, err='query')
        before = digest(img)
        self.run_ferrite('insert', img, 'people', '{"name": }', code=2, err='document: line 1, column 10')
        self.run_ferrite('insert', img, 'bad name!', '{"a": 1}', code=2)
        self.assertEqual(digest(img), before)

    def test_export_docs_and_import_docs_move_a_collection_as_json_lines(self):
        src, dst = self.path('s.img'), self.path('t.img')
        self.run_ferrite('create', src, '--geometry', '8x4k@4')
        self.run_ferrite('create', dst, '--geometry', 'nrf52-4x4k')
        docs = [{'name': 'Ada', 'age': 36, 'tags': ['a', 'b']}, {'name': 'Bob', 'age': 25, 'nested': {'x': 1.5}},
                {'zeta': None, 'alpha': True}]
        for d in docs:
            self.run_ferrite('insert', src, 'people', json.dumps(d))
        out = self.path('people.jsonl')
        self.run_ferrite('export-docs', src, 'people', '--out', out)
        with open(out) as f:
            exported = [json.loads(l) for l in f]
        self.assertEqual([{k: v for k, v in d.items() if k not in ('_id', '_ts', '_v')} for d in exported], docs)
        r = self.run_ferrite('import-docs', dst, 'people', out)
        self.assertIn('3 documents imported', r.stdout)
        again = [json.loads(l) for l in self.run_ferrite('export-docs', dst, 'people').stdout.splitlines()]
        self.assertEqual([{k: v for k, v in d.items() if k not in ('_id', '_ts', '_v')} for d in again], docs)
        self.assertEqual([d['_id'] for d in again], [1, 2, 3])  # the store assigns ids anew
        self.assertEqual([d['_v'] for d in again], [1, 1, 1])

    def test_import_docs_is_all_or_nothing_and_names_the_bad_line(self):
        img = self.path('d.img')
        self.run_ferrite('create', img, '--geometry', '8x4k@4')
        self.run_ferrite('insert', img, 'people', '{"name": "Ada"}')
        before = digest(img)
        lines = ['{"n": %d}' % i for i in range(49)] + ['{"n": 49, }'] + ['{"n": 50}']
        bad = self.write('bad.jsonl', '\n'.join(lines) + '\n')
        self.run_ferrite('import-docs', img, 'people', bad, code=2, err='line 50, column 11')
        self.run_ferrite('import-docs', img, 'people', self.write('arr.jsonl', '{"a": 1}\n\n[1, 2]\n'), code=2,
                         err='line 3, column 1: a document is a JSON object')
        self.run_ferrite('import-docs', img, 'people', self.write('dup.jsonl', '{"a": 1}\n{"b": 1, "b": 2}\n'), code=2,
                         err='line 2, column')
        self.run_ferrite('import-docs', img, 'people', self.write('tail.jsonl', '{"a": 1} {"b": 2}\n'), code=2,
                         err='line 1, column')
        big = self.write('big.jsonl', '{"a": 1}\n' + json.dumps({'blob': 'x' * 40000}) + '\n')
        self.run_ferrite('import-docs', img, 'people', big, code=2, err='line 2')
        self.run_ferrite('import-docs', img, 'bad name!', self.write('ok.jsonl', '{"a": 1}\n'), code=2)
        self.run_ferrite('import-docs', img, 'people', self.path('missing.jsonl'), code=1)
        self.assertEqual(digest(img), before)
        self.assertEqual(len(self.run_ferrite('export-docs', img, 'people').stdout.splitlines()), 1)
        self.run_ferrite('export-docs', img, 'nobody', code=1, err="no collection 'nobody'")

    # -- backups ------------------------------------------------------------
    def test_backup_verify_backup_and_restore_reproduce_the_store(self):
        img = self.image()
        r = self.run_ferrite('backup', img, self.path('full.fbk'))
        lsn = r.stdout.split('--since-lsn ')[1].split()[0]
        self.run_ferrite('put', img, 'cfg/u8', '9', '--type', 'u8')
        self.run_ferrite('rm', img, 'cfg/s')
        self.run_ferrite('backup', img, self.path('inc.fbk'), '--since-lsn', lsn)
        self.assertIn('ok', self.run_ferrite('verify-backup', self.path('full.fbk'), self.path('inc.fbk')).stdout)
        self.run_ferrite('restore', self.path('r.img'), self.path('full.fbk'), self.path('inc.fbk'),
                         '--geometry', '8x4k@4')
        restored = self.export(self.path('r.img'))
        marker = {'key_hex': RESTORE_MARKER}
        self.assertTrue(any(marker.items() <= e.items() for e in restored['keys']))  # the restore's own record
        restored['keys'] = [e for e in restored['keys'] if e.get('key_hex') != RESTORE_MARKER]
        self.assertEqual(restored, self.export(img))
        self.run_ferrite('restore', self.path('r.img'), self.path('full.fbk'), '--geometry', '8x4k@4', code=2,
                         err='--force')

    def test_a_damaged_or_truncated_backup_is_refused_and_restores_nothing(self):
        img = self.image()
        self.run_ferrite('backup', img, self.path('b.fbk'))
        with open(self.path('b.fbk'), 'rb') as f:
            data = bytearray(f.read())
        self.write('short.fbk', bytes(data[:len(data) - 20]))
        data[200] ^= 1
        self.write('bad.fbk', bytes(data))
        self.run_ferrite('verify-backup', self.path('bad.fbk'), code=1, err='bad.fbk')
        self.run_ferrite('verify-backup', self.path('short.fbk'), code=1, err='truncated')
        self.run_ferrite('restore', self.path('r.img'), self.path('bad.fbk'), '--geometry', '8x4k@4', code=1)
        self.assertFalse(os.path.exists(self.path('r.img')))
        self.run_ferrite('verify-backup', self.write('foreign.fbk', b'not a backup' * 20), code=2, err='foreign')

    def test_a_sealed_backup_needs_the_key(self):
        self.write('k.key', bytes(range(32)))
        self.write('other.key', bytes(32))
        img = self.image(extra=('--key-file', 'k.key'))
        self.run_ferrite('backup', img, self.path('s.fbk'), '--key-file', 'k.key')
        self.run_ferrite('verify-backup', self.path('s.fbk'), code=2, err='key_needed')
        self.run_ferrite('verify-backup', self.path('s.fbk'), '--key-file', 'other.key', code=2, err='wrong_key')
        self.run_ferrite('verify-backup', self.path('s.fbk'), '--key-file', 'k.key')
        self.run_ferrite('restore', self.path('r.img'), self.path('s.fbk'), '--geometry', 'esp32-4k', '--key-file',
                         'k.key')
        restored = self.export(self.path('r.img'), '--key-file', 'k.key')
        restored['keys'] = [e for e in restored['keys'] if e.get('key_hex') != RESTORE_MARKER]
        self.assertEqual(restored, self.export(img, '--key-file', 'k.key'))

    # -- verify and damage --------------------------------------------------
    def corrupt(self, img, offset):
        with open(img, 'r+b') as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x40]))

    # -- dump ---------------------------------------------------------------
    def records(self, doc):
        return [r for s in doc['sectors'] for r in (s['records'] or [])]

    def test_dump_lists_every_record_of_a_clean_image_and_exits_0(self):
        img = self.image()
        before = digest(img)
        doc = json.loads(self.run_ferrite('dump', img, '--json').stdout)
        self.assertTrue(doc['summary']['clean'])
        keys = {r['key_text'] for r in self.records(doc) if r.get('key_text')}
        self.assertTrue({'cfg/u8', 'cfg/s', 'cfg/flag'} <= keys, keys)
        text = self.run_ferrite('dump', img).stdout
        self.assertIn('TYPED_PUT', text)
        self.assertIn('"cfg/u64"', text)
        self.assertEqual(digest(img), before)

    def test_dump_of_a_corrupt_record_marks_it_and_exits_1(self):
        img = self.image()
        self.corrupt(img, 60)
        before = digest(img)
        r = self.run_ferrite('dump', img, '--json', code=1, err='damage')
        doc = json.loads(r.stdout)
        self.assertFalse(doc['summary']['clean'])
        self.assertEqual(digest(img), before)

    def test_dump_walks_an_image_whose_headers_are_gone_when_given_the_geometry(self):
        img = self.image()
        with open(img, 'r+b') as f:
            for sector in range(6):
                f.seek(sector * 4096)
                f.write(b'\0' * 32)
        self.run_ferrite('dump', img, code=2, err='not a ferrite image')
        r = self.run_ferrite('dump', img, '--json', '--geometry', 'esp32-4k', code=1, err='damage')
        self.assertEqual(len(json.loads(r.stdout)['sectors']), 6)

    def test_dump_of_a_truncated_image_or_a_wrong_size_is_refused(self):
        img = self.image()
        with open(img, 'rb') as f:
            data = f.read()
        t = self.write('t.img', data[:20480])
        self.run_ferrite('dump', t, code=1, err='truncated')
        self.run_ferrite('dump', t, '--geometry', 'esp32-4k', code=1, err='truncated')
        self.run_ferrite('dump', img, '--geometry', 'nrf52-4x4k', code=2, err='geometry mismatch')

    def test_verify_of_a_clean_store_exits_0(self):
        img = self.image()
        r = self.run_ferrite('verify', img)
        self.assertIn('14 keys', r.stdout)
        self.assertIn('clean', r.stdout)

    def test_verify_reports_a_corrupt_record_and_exits_1(self):
        img = self.image()
        self.corrupt(img, 60)
        before = digest(img)
        r = self.run_ferrite('verify', img, code=1)
        self.assertIn('corrupt record', r.stdout)
        self.assertIn('at sector 0 (sequence 1) offset 0x38', r.stdout)  # the record holding byte 60
        self.assertIn('a damaged record before a good one', r.stdout)
        self.assertIn('DAMAGED', r.stdout)
        self.run_ferrite('export', img, code=1, err='damaged')
        self.assertIn('1 corrupt records', self.run_ferrite('info', img).stdout)
        self.assertEqual(digest(img), before)

    def test_verify_reports_a_torn_tail_with_where_and_counts_it_only_when_strict(self):
        img = self.image()
        with open(img, 'rb') as f:
            data = bytearray(f.read())
        end = 4096
        while data[end - 1] == 0xFF:
            end -= 1
        at = (end + 3) // 4 * 4
        data[at:at + 6] = b'\x80\x03\x11\x22\x33\x44'  # the start of a record whose write was cut
        with open(img, 'wb') as f:
            f.write(data)
        r = self.run_ferrite('verify', img)
        self.assertIn('power-cut trace: 1 torn tail', r.stdout)
        self.assertIn('offset {:#x}'.format(at), r.stdout)
        self.assertIn('a torn tail', r.stdout)
        self.assertIn('clean', r.stdout)
        r = self.run_ferrite('verify', img, '--strict', code=1, err='damaged')
        self.assertIn('damage: 1 torn tail', r.stdout)

    def test_verify_of_a_tampered_sealed_store_exits_1_with_where(self):
        self.write('k.key', bytes(range(32)))
        img = self.image(extra=('--key-file', 'k.key'))
        self.corrupt(img, 200)
        self.run_ferrite('verify', img, '--key-file', 'k.key', code=1, err='sector sequence')

    # -- sealed stores ------------------------------------------------------
    def test_a_sealed_store_round_trips_with_its_key_and_info_needs_none(self):
        self.write('k.key', bytes(range(32)))
        img = self.image(extra=('--key-file', 'k.key'))
        info = self.run_ferrite('info', img).stdout
        self.assertIn('sealed: xchacha20poly1305, raw 32-byte key', info)
        self.assertIn('version 2', info)
        self.assertEqual(self.run_ferrite('get', img, 'cfg/u32', '--key-file', 'k.key').stdout.strip(), '4294967295')
        self.run_ferrite('put', img, 'new', '5', '--type', 'i32', '--key-file', 'k.key')
        self.assertEqual(len(self.export(img, '--key-file', 'k.key')['keys']), 15)
        self.assertIn('keys         15', self.run_ferrite('info', img, '--key-file', 'k.key').stdout)

    def test_a_sealed_store_without_its_key_or_with_another_is_usage(self):
        self.write('k.key', bytes(range(32)))
        self.write('other.key', bytes(32))
        self.write('short.key', bytes(31))
        img = self.image(extra=('--key-file', 'k.key'))
        before = digest(img)
        self.run_ferrite('ls', img, code=2, err='sealed')
        self.run_ferrite('ls', img, '--key-file', 'other.key', code=2, err='wrong key')
        self.run_ferrite('put', img, 'x', '1', '--type', 'u8', '--key-file', 'other.key', code=2, err='wrong key')
        self.run_ferrite('ls', img, '--key-file', 'short.key', code=2, err='31 bytes')
        self.run_ferrite('ls', img, '--passphrase-env', 'FERRITE_TEST_UNSET', code=2, err='not set')
        self.run_ferrite('ls', img, '--key-file', 'k.key', '--passphrase-env', 'X', code=2, err='not both')
        self.assertEqual(digest(img), before)

    def test_a_key_for_a_plain_store_is_usage(self):
        self.write('k.key', bytes(range(32)))
        img = self.image()
        self.run_ferrite('ls', img, '--key-file', 'k.key', code=2, err='not sealed')

    def test_a_passphrase_store_opens_with_its_passphrase_only(self):
        env = {'FERRITE_TEST_PASS': 'correct horse'}
        src = self.write('a.csv', CSV)
        img = self.path('p.img')
        self.run_ferrite('create', img, '--geometry', 'esp32-4k', '--passphrase-env', 'FERRITE_TEST_PASS',
                         '--kdf-cost', '1,8192', '--from', src, env=env)
        self.assertIn('Argon2id (opslimit 1, memlimit 8192 KiB)', self.run_ferrite('info', img).stdout)
        out = self.run_ferrite('export', img, '--passphrase-env', 'FERRITE_TEST_PASS', env=env).stdout
        self.assertEqual(len(json.loads(out)['keys']), 14)
        self.run_ferrite('ls', img, '--passphrase-env', 'FERRITE_TEST_PASS', env={'FERRITE_TEST_PASS': 'wrong'},
                         code=2, err='wrong key')
        self.run_ferrite('create', self.path('q.img'), '--geometry', 'esp32-4k', '--kdf-cost', '1,8192', code=2,
                         err='--passphrase-env')
        self.run_ferrite('create', self.path('q.img'), '--geometry', 'esp32-4k', '--passphrase-env',
                         'FERRITE_TEST_PASS', '--kdf-cost', 'lots', env=env, code=2, err='--kdf-cost')

    def test_a_store_that_hides_key_names_reads_by_name_but_cannot_be_listed(self):
        self.write('k.key', bytes(range(32)))
        img = self.image(extra=('--key-file', 'k.key', '--hide-keys'))
        self.assertIn('key names hidden', self.run_ferrite('info', img).stdout)
        self.assertEqual(self.run_ferrite('get', img, 'cfg/u8', '--key-file', 'k.key').stdout.strip(), '200')
        self.run_ferrite('ls', img, '--key-file', 'k.key', code=2, err='hides key names')
        self.run_ferrite('export', img, '--key-file', 'k.key', code=2, err='hides key names')
        self.run_ferrite('create', self.path('h.img'), '--geometry', 'esp32-4k', '--hide-keys', code=2, err='sealed')


def main():
    global FERRITE
    if len(sys.argv) < 2:
        print('usage: test_tool.py FERRITE [unittest options]', file=sys.stderr)
        return 2
    FERRITE = os.path.abspath(sys.argv[1])
    result = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], exit=False, verbosity=1).result
    print('tool tests: {} run, {} failures'.format(result.testsRun, len(result.failures) + len(result.errors)))
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
