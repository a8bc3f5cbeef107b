#!/usr/bin/env python3
"""ferrite_dump.py IMAGE --geometry SPEC [--json]

Decodes a ferrite.log flash image without mounting it and prints what
`ferrite dump` prints: every sector's header, marker and crypto block, and
every record of the store's sectors (docs/DUMP.md). Written from
docs/FORMAT.md and docs/DUMP.md alone, with the Python standard library only;
sealed stores are listed by their framing (no decryption).

Exit code: 0 clean, 1 damage found, 2 the image or the geometry is unusable.
"""

import argparse
import json
import sys

# --------------------------------------------------------------------------
# crc32c (FORMAT.md, notation): Castagnoli, reflected 0x82F63B78, init and
# final xor 0xFFFFFFFF; crc32c(b, seed=crc32c(a)) == crc32c(a ++ b).

_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, seed=0):
    crc = seed ^ 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def u32(data, at):
    return int.from_bytes(data[at:at + 4], "little")


def le32(value):
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


# --------------------------------------------------------------------------
# Geometry SPEC (docs/DUMP.md): RUN[+RUN...]@UNIT[,erased=00|ff]

PRESETS = {
    "stm32f4-2x16k": "2x16k@4",
    "stm32f4-4x16k+64k": "4x16k+1x64k@4",
    "nrf52-4x4k": "4x4k@4",
    "esp32-4k": "6x4k@4",
}


class Geometry:
    def __init__(self, runs, unit, erased):
        self.runs = runs          # [(count, size)]
        self.unit = unit
        self.erased = erased      # 0xFF or 0x00
        self.sizes = [size for count, size in runs for _ in range(count)]
        self.offsets = []
        at = 0
        for size in self.sizes:
            self.offsets.append(at)
            at += size
        self.total = at

    def crc(self):
        data = b"".join(le32(count) + le32(size) for count, size in self.runs)
        return crc32c(data)


def parse_size(text):
    if text.endswith("k"):
        return int(text[:-1]) * 1024
    return int(text)


def parse_geometry(spec):
    spec = PRESETS.get(spec, spec)
    erased = 0xFF
    if "," in spec:
        spec, option = spec.split(",", 1)
        if option == "erased=00":
            erased = 0x00
        elif option == "erased=ff":
            erased = 0xFF
        else:
            raise ValueError("unknown option '%s'" % option)
    layout, unit = spec.split("@")
    unit = int(unit)
    if unit not in (1, 2, 4, 8, 16, 32):
        raise ValueError("program unit %d is not 1, 2, 4, 8, 16 or 32" % unit)
    runs = []
    for run in layout.split("+"):
        count, size = run.split("x")
        count, size = int(count), parse_size(size)
        if count <= 0 or size <= 0 or size % unit:
            raise ValueError("run '%s' is not whole sectors of whole units" % run)
        runs.append((count, size))
    return Geometry(runs, unit, erased)


# --------------------------------------------------------------------------
# FORMAT.md constants

KINDS = ["PUT", "DELETE", "META", "TXN_PUT", "TXN_DELETE", "TXN_COMMIT", "TYPED_PUT", "TAMPERED"]
PUT, DELETE, META, TXN_PUT, TXN_DELETE, TXN_COMMIT, TYPED_PUT, TAMPERED = range(8)
META_NAMES = {0: "RETIRE", 1: "ERASED", 2: "OPEN", 6: "SKIP", 7: "SHARED"}
META_SKIP = 6
TYPE_NAMES = {1: "u8", 2: "i8", 3: "u16", 4: "i16", 5: "u32", 6: "i32", 7: "u64", 8: "i64",
              9: "float", 10: "double", 11: "bool", 12: "string", 13: "blob"}
SEAL_GROWTH = 24          # salt 8 + tag 16 (§3.4)
MARKER_MAGIC = b"FeRx"
HEADER_MAGIC = b"FeRt"


def align(n, unit):
    return (n + unit - 1) // unit * unit


def printable(data):
    if data and all(0x20 <= b <= 0x7E for b in data):
        return data.decode("ascii")
    return None


# --------------------------------------------------------------------------
# §2 headers

def decode_header(raw, geometry):
    """raw: the sector's first 96 bytes (past its end: erased)."""
    flags = raw[7]
    covered = raw[0:28] + (raw[32:96] if flags & 2 else b"")
    stored_crc = u32(raw, 28)
    h = {
        "state": None,
        "magic": u32(raw, 0),
        "version": raw[4],
        "log2_unit": raw[5],
        "erased": raw[6],
        "flags": flags,
        "sequence": u32(raw, 8),
        "tail": u32(raw, 12),
        "erase_count": u32(raw, 16),
        "store_id": u32(raw, 20),
        "geometry_crc": u32(raw, 24),
        "crc": stored_crc,
        "crc_ok": crc32c(covered) == stored_crc,
    }
    if all(b == geometry.erased for b in raw[0:32]):
        state = "blank"
    elif raw[0:4] != HEADER_MAGIC or not h["crc_ok"]:
        state = "garbage"
    elif (h["version"] not in (1, 2) or (h["version"] == 2 and not flags & 2)
          or h["log2_unit"] > 5 or (1 << h["log2_unit"]) != geometry.unit
          or h["erased"] != geometry.erased or h["geometry_crc"] != geometry.crc()):
        state = "foreign"
    elif h["tail"] > h["sequence"] or h["sequence"] == 0 or h["sequence"] >= 0xFFFFFF00:
        state = "garbage"
    else:
        state = "valid"
    h["state"] = state
    return h


def decode_crypto_block(block, newest_block):
    return {
        "suite": block[0],
        "kdf": block[1],
        "flags": block[2],
        "construction": block[3],
        "opslimit": u32(block, 4),
        "memlimit_kib": u32(block, 8),
        "crc": u32(block, 60),
        "crc_ok": crc32c(block[0:60]) == u32(block, 60),
        "same_as_newest": block == newest_block,
    }


# --------------------------------------------------------------------------
# §3 records of one sector

class Bad(Exception):
    def __init__(self, why):
        Exception.__init__(self, why)
        self.why = why


class RecordArea:
    """One sector's record area, read position by position."""

    def __init__(self, data, sequence, geometry, sealed, start, end):
        self.data = data            # the whole sector
        self.sequence = sequence
        self.unit = geometry.unit
        self.erased = geometry.erased
        self.sealed = sealed
        self.start = start
        self.end = end
        self.slots = {}             # slot -> binding dict (this sector only, §3.2)

    def blank(self, a, b):
        return all(x == self.erased for x in self.data[a:b])

    def record(self, at, end):
        """The record at `at` within [at, end): a dict, None for a blank
        first unit, or raises Bad."""
        room = end - at
        if self.blank(at, at + min(self.unit, room)):
            return None
        first = self.data[at]
        if 1 <= first <= 126:
            return self.compact(at, room, first)
        if not 0x80 <= first <= 0xFE or room < 8:
            raise Bad("bad_framing")
        return self.full(at, room)

    def compact(self, at, room, slot):
        binding = self.slots.get(slot)
        if binding is None or (at - binding["offset"]) // self.unit > 65535:
            raise Bad("unbound_slot")
        size = align(4 + binding["value_size"], self.unit)
        if size > room:
            raise Bad("bad_framing")
        value = self.data[at + 4:at + 4 + binding["value_size"]]
        # crc24 = low 24 bits of crc32c(key ++ position ++ slot ++ value)
        crc = crc32c(binding["key"] + le32(self.sequence) + le32(at) + bytes([slot]) + value) & 0xFFFFFF
        stored = int.from_bytes(self.data[at + 1:at + 4], "little")
        if crc != stored:
            raise Bad("crc_mismatch")
        return {"offset": at, "size": size, "form": "compact",
                "kind": TYPED_PUT if binding["typed"] else PUT, "type_field": 0, "slot": slot,
                "key": binding["key"], "value": value, "crc": stored, "binding": binding["offset"],
                "txn": None}

    def full(self, at, room):
        w = u32(self.data, at)
        slot = w & 0x7F
        kind = (w >> 8) & 0x7
        key_field = (w >> 11) & 0x3F
        value_len = w >> 17
        sealed = self.sealed
        # FORMAT.md §3.1, "What a reader rejects"
        if kind in (PUT, TYPED_PUT):
            ok = slot == 0 or not sealed
        elif kind == TXN_PUT:
            ok = slot == 0
        elif kind in (DELETE, TXN_DELETE):
            ok = slot == 0 and value_len == (SEAL_GROWTH if sealed else 0)
        elif kind == META:
            ok = slot == 0 and value_len <= 48
        elif kind == TXN_COMMIT:
            ok = slot == 0 and key_field == 0 and value_len == (8 + SEAL_GROWTH if sealed else 8)
        else:  # TAMPERED
            ok = sealed and slot == 0 and value_len == 8 + SEAL_GROWTH
        if not ok:
            raise Bad("bad_framing")
        key_len = 0 if kind in (META, TXN_COMMIT) else key_field + 1
        size = align(8 + key_len + value_len, self.unit)
        if size > room:
            raise Bad("bad_framing")
        key = self.data[at + 8:at + 8 + key_len]
        value = self.data[at + 8 + key_len:at + 8 + key_len + value_len]
        stored = u32(self.data, at + 4)
        if crc32c(le32(self.sequence) + le32(at) + le32(w) + key + value) != stored:
            raise Bad("crc_mismatch")
        if kind == META and key_field == 0 and not sealed and value_len == 4 and u32(value, 0) > self.sequence:
            raise Bad("bad_retire")   # §3.3: a RETIRE names older sectors only
        return {"offset": at, "size": size, "form": "full", "kind": kind, "type_field": key_field,
                "slot": slot, "key": bytes(key), "value": bytes(value), "crc": stored, "binding": None,
                "txn": None}

    def written(self, rec):
        """Bindings after a full record that writes a key (§3.1, §3.2)."""
        if rec["form"] != "full" or rec["kind"] in (META, TXN_COMMIT):
            return
        for slot in [s for s, b in self.slots.items() if b["key"] == rec["key"]]:
            del self.slots[slot]
        if rec["kind"] in (PUT, TYPED_PUT) and rec["slot"]:
            self.slots[rec["slot"]] = {"offset": rec["offset"], "key": rec["key"],
                                       "value_size": len(rec["value"]), "typed": rec["kind"] == TYPED_PUT}

    def try_record(self, at, end):
        try:
            return "record", self.record(at, end)
        except Bad as bad:
            return "bad", bad.why

    def walk(self):
        """docs/DUMP.md, the walk, step 5. Returns (entries, end)."""
        entries = []
        region = []                 # damage entries of the open bad region
        state = {"bad": False, "from": None, "why": None, "corrupt": 0, "uncommitted": 0}

        def damage_at(at, why):
            state["bad"] = True
            if state["from"] is None:
                state["from"], state["why"] = at, why

        def close_damage(until):
            if state["from"] is not None and until > state["from"]:
                entry = {"type": "damage", "offset": state["from"], "size": until - state["from"],
                         "why": state["why"], "verdict": None}
                region.append(entry)
                entries.append(entry)
            state["from"] = None

        def skip_closes(rec, good_end):
            # FORMAT.md §3.3: a SKIP whose `from` is at or below the end of the
            # last good record (and above the first record position) closes
            # the bad region before it as a torn write. A sealed SKIP's `from`
            # is sealed, so without the key it cannot be matched.
            if not state["bad"] or self.sealed or rec["form"] != "full" or rec["kind"] != META:
                return False
            if rec["type_field"] != META_SKIP or len(rec["value"]) != 4:
                return False
            return self.start < u32(rec["value"], 0) <= good_end

        def torn_closed():
            for entry in region:
                entry["verdict"] = "torn"
            state["bad"] = False
            del region[:]

        def good():
            if state["bad"]:
                state["corrupt"] += 1
                for entry in region:
                    entry["verdict"] = "corrupt"
            state["bad"] = False
            del region[:]

        at, good_end, stopped_blank = self.start, self.start, False
        while at < self.end:
            what, found = self.try_record(at, self.end)
            if what == "record" and found is None:
                if self.blank(at, self.end):
                    stopped_blank = True
                    break
                damage_at(at, "blank_unit")
                at += self.unit
                continue
            if what == "bad":
                damage_at(at, found)
                at += self.unit
                continue
            if found["form"] == "full" and found["kind"] in (TXN_PUT, TXN_DELETE, TXN_COMMIT):
                at, good_end = self.batch(at, found, entries, damage_at, close_damage, good, state, good_end)
                continue
            close_damage(at)
            if skip_closes(found, good_end):
                torn_closed()
            else:
                good()
            entries.append(found)
            self.written(found)
            at += found["size"]
            good_end = at
        close_damage(min(at, self.end))
        if state["bad"]:
            for entry in region:
                entry["verdict"] = "torn"
            end_state = "torn"
        elif stopped_blank or self.start >= self.end:
            end_state = "blank"
        else:
            end_state = "full"
        end = {"offset": good_end, "state": end_state, "corrupt_runs": state["corrupt"],
               "uncommitted_batches": state["uncommitted"]}
        return entries, end

    def batch(self, at, first, entries, damage_at, close_damage, good, state, good_end):
        """§4.1: TXN_PUT/TXN_DELETE members, then their TXN_COMMIT."""
        members, crcs, p = [], 0, at
        what, rec = "record", first
        while what == "record" and rec is not None and rec["form"] == "full" and rec["kind"] in (TXN_PUT, TXN_DELETE):
            crcs = crc32c(le32(rec["crc"]), crcs)
            members.append(rec)
            p += rec["size"]
            if p >= self.end:
                what, rec = "bad", None
                break
            what, rec = self.try_record(p, self.end)
        committed = False
        if what == "record" and rec is not None and rec["form"] == "full" and rec["kind"] == TXN_COMMIT and members:
            if self.sealed:
                committed = True   # count and crcs are sealed (docs/DUMP.md)
            else:
                value = rec["value"]
                committed = len(value) == 8 and u32(value, 0) == len(members) and u32(value, 4) == crcs
        if committed:
            close_damage(at)
            good()
            for m in members:
                m["txn"] = p
                entries.append(m)
                self.written(m)
            entries.append(rec)
            return p + rec["size"], p + rec["size"]
        if members:
            close_damage(at)
            for m in members:
                m["txn"] = "uncommitted"
                entries.append(m)
            state["uncommitted"] += 1
        damage_at(p, "uncommitted_batch")
        return max(p, at + self.unit), good_end

    def end_slot(self, at):
        """§2.1: a sealed sector's end slot, one record to the sector's end."""
        size = len(self.data)
        if at >= size or self.blank(at, size):
            return None
        what, found = self.try_record(at, size)
        if what == "record" and found is not None:
            return found
        return {"type": "damage", "offset": at, "size": size - at,
                "why": "blank_unit" if what == "record" else found, "verdict": "torn"}


# --------------------------------------------------------------------------
# JSON (docs/DUMP.md)

def record_json(rec, sealed):
    if rec.get("type") == "damage":
        return {"type": "damage", "offset": rec["offset"], "size": rec["size"], "why": rec["why"],
                "verdict": rec["verdict"]}
    kind, value = rec["kind"], rec["value"]
    is_meta = rec["form"] == "full" and kind == META
    out = {
        "type": "record",
        "offset": rec["offset"],
        "size": rec["size"],
        "form": rec["form"],
        "kind": KINDS[kind],
        "meta_type": rec["type_field"] if is_meta else None,
        "meta": META_NAMES.get(rec["type_field"]) if is_meta else None,
        "slot": rec["slot"],
        "key_hex": rec["key"].hex(),
        "key_text": printable(rec["key"]),
        "value_size": len(value),
        "value_hex": None if sealed else value.hex(),
        "sealed": sealed,
        "type_tag": None,
        "type_name": None,
        "crc": rec["crc"],
        "binding": rec["binding"],
        "txn": rec["txn"],
        "fields": None,
    }
    if kind == TYPED_PUT and not sealed and value:
        out["type_tag"] = value[0]
        out["type_name"] = TYPE_NAMES.get(value[0], "unknown")
    if not sealed and rec["form"] == "full":
        t = rec["type_field"]
        if kind == META and t == 0 and len(value) == 4:
            out["fields"] = {"tail": u32(value, 0)}
        elif kind == META and t == 1 and len(value) == 8:
            out["fields"] = {"sector": value[0] | value[1] << 8, "reserved": value[2] | value[3] << 8,
                             "erase_count": u32(value, 4)}
        elif kind == META and t == 2 and len(value) == 12:
            out["fields"] = {"tail": u32(value, 0), "previous_sequence": u32(value, 4),
                             "previous_end": u32(value, 8)}
        elif kind == META and t == META_SKIP and len(value) == 4:
            out["fields"] = {"from": u32(value, 0)}
        elif kind == TXN_COMMIT and len(value) == 8:
            out["fields"] = {"count": u32(value, 0), "crcs": u32(value, 4)}
    return out


def dump(image, geometry):
    """The dump of docs/DUMP.md as a Python value, and whether it is clean."""
    e = geometry.erased
    image = bytes(image[:geometry.total]) + bytes([e]) * max(0, geometry.total - len(image))
    gcrc = geometry.crc()
    sectors = []
    for i, (offset, size) in enumerate(zip(geometry.offsets, geometry.sizes)):
        data = image[offset:offset + size]
        raw = (data[:96] + bytes([e]) * 96)[:96]
        sectors.append({"index": i, "address": offset, "size": size, "data": data,
                        "header": decode_header(raw, geometry)})
    # The store: the valid header with the highest sequence (lowest index on ties).
    store = None
    for s in sectors:
        h = s["header"]
        if h["state"] == "valid" and (store is None or h["sequence"] > store["newest_sequence"]):
            store = {"store_id": h["store_id"], "version": h["version"], "flags": h["flags"],
                     "sealed": bool(h["flags"] & 2), "compact": bool(h["flags"] & 1),
                     "newest_sequence": h["sequence"], "newest_sector": s["index"], "tail": 0}
    sealed = bool(store and store["sealed"])
    marker_at = align(32 + (64 if sealed else 0), geometry.unit)
    records_start = marker_at + align(8, geometry.unit)
    end_slot = align(8 + 4 + SEAL_GROWTH, geometry.unit) if sealed else 0
    newest_block = None
    if store:
        newest = sectors[store["newest_sector"]]["data"]
        newest_block = (newest[32:96] + bytes([e]) * 64)[:64]
    tail = 0
    for s in sectors:
        data, h = s["data"], s["header"]
        marker = (data[marker_at:marker_at + 8] + bytes([e]) * 8)[:8]
        if all(b == e for b in marker):
            s["marker"] = "absent"
        elif marker[0:4] == MARKER_MAGIC and u32(marker, 4) == crc32c(le32(h["sequence"]) + le32(h["store_id"])):
            s["marker"] = "valid"
        else:
            s["marker"] = "invalid"
        s["crypto"] = None
        s["records_start"] = records_start
        s["records_end"] = s["size"] - end_slot if s["size"] > end_slot else 0
        s["walked"] = False
        if h["state"] != "valid":
            s["state"] = "blank" if h["state"] == "blank" else "garbage"
            continue
        if h["flags"] & 2:
            s["crypto"] = decode_crypto_block((data[32:96] + bytes([e]) * 64)[:64], newest_block)
        if h["store_id"] != store["store_id"]:
            s["state"] = "garbage"
            continue
        tail = max(tail, h["tail"])
        if s["marker"] == "valid":
            tail = max(tail, h["sequence"] + 1)
        s["walked"] = True
        s["entries"], s["end"], s["end_slot"] = [], {"offset": records_start, "state": "blank",
                                                     "corrupt_runs": 0, "uncommitted_batches": 0}, None
        if records_start < s["records_end"]:
            area = RecordArea(data, h["sequence"], geometry, sealed, records_start, s["records_end"])
            s["entries"], s["end"] = area.walk()
            if sealed:
                s["end_slot"] = area.end_slot(s["records_end"])
        if not sealed:
            for rec in s["entries"]:
                if (rec.get("type") != "damage" and rec["form"] == "full" and rec["kind"] == META
                        and rec["type_field"] == 0 and len(rec["value"]) == 4):
                    tail = max(tail, u32(rec["value"], 0))
    if store:
        store["tail"] = tail
    for s in sectors:
        if s["walked"]:
            s["state"] = "live" if s["header"]["sequence"] >= tail else "retired"

    def order(s):
        rank = {"live": 0, "retired": 1}.get(s["state"], 2)
        return (rank, s["header"]["sequence"] if rank < 2 else 0, s["index"])

    sectors.sort(key=order)
    out_sectors = []
    totals = dict(live=0, retired=0, blank=0, garbage=0, records=0, damage=0, torn=0, corrupt=0, uncommitted=0)
    clean = store is not None
    for s in sectors:
        totals[s["state"]] += 1
        if s["state"] == "garbage":
            clean = False
        out = {"index": s["index"], "address": s["address"], "size": s["size"], "state": s["state"],
               "header": s["header"], "crypto": s["crypto"], "marker": s["marker"],
               "all_erased": all(b == e for b in s["data"]), "records_start": s["records_start"],
               "records_end": s["records_end"], "records": None, "end": None, "end_slot": None}
        if s["walked"]:
            out["records"] = [record_json(r, sealed) for r in s["entries"]]
            out["end"] = s["end"]
            out["end_slot"] = record_json(s["end_slot"], sealed) if s["end_slot"] else None
            for r in s["entries"]:
                totals["damage" if r.get("type") == "damage" else "records"] += 1
            totals["torn"] += s["end"]["state"] == "torn"
            totals["corrupt"] += s["end"]["corrupt_runs"]
            totals["uncommitted"] += s["end"]["uncommitted_batches"]
            if (s["end"]["state"] == "torn" or s["end"]["corrupt_runs"] or s["end"]["uncommitted_batches"]
                    or (s["end_slot"] and s["end_slot"].get("type") == "damage")):
                clean = False
        out_sectors.append(out)
    result = {
        "format": "ferrite-dump",
        "dump_version": 1,
        "geometry": {"runs": [{"count": c, "size": z} for c, z in geometry.runs], "unit": geometry.unit,
                     "erased": geometry.erased, "size": geometry.total, "crc": gcrc},
        "store": store,
        "log_order": [s["index"] for s in sectors],
        "sectors": out_sectors,
        "summary": {"sectors": len(sectors), "live": totals["live"], "retired": totals["retired"],
                    "blank": totals["blank"], "garbage": totals["garbage"], "records": totals["records"],
                    "damage": totals["damage"], "torn": totals["torn"], "corrupt": totals["corrupt"],
                    "uncommitted_batches": totals["uncommitted"], "clean": clean},
    }
    return result, clean


def text(result):
    lines = []
    st = result["store"]
    if st:
        lines.append("store %08x  version %d  flags %#x%s  newest sequence %d (sector %d)  tail %d" % (
            st["store_id"], st["version"], st["flags"], " (sealed)" if st["sealed"] else "",
            st["newest_sequence"], st["newest_sector"], st["tail"]))
    else:
        lines.append("no store: no sector has a valid header")
    for s in result["sectors"]:
        lines.append("")
        lines.append("sector %d @%#x (%d bytes): %s, header %s, sequence %d, marker %s" % (
            s["index"], s["address"], s["size"], s["state"], s["header"]["state"], s["header"]["sequence"],
            s["marker"]))
        for r in s["records"] or []:
            if r["type"] == "damage":
                lines.append("  %-7d %-6d DAMAGE %s (%s)" % (r["offset"], r["size"], r["why"], r["verdict"]))
            else:
                lines.append("  %-7d %-6d %-7s %-12s slot %-3d key %s value %d%s" % (
                    r["offset"], r["size"], r["form"], r["kind"] + ("(%s)" % r["meta"] if r["meta"] else ""),
                    r["slot"], r["key_text"] if r["key_text"] is not None else ("0x" + r["key_hex"] if r["key_hex"] else "-"),
                    r["value_size"], "  batch %s" % r["txn"] if r["txn"] is not None else ""))
        if s["end"]:
            lines.append("  end @%d: %s" % (s["end"]["offset"], s["end"]["state"]))
    sm = result["summary"]
    lines.append("")
    lines.append("%d sectors: %d live, %d retired, %d blank, %d garbage; %d records, %d damaged runs: %s" % (
        sm["sectors"], sm["live"], sm["retired"], sm["blank"], sm["garbage"], sm["records"], sm["damage"],
        "clean" if sm["clean"] else "damage found"))
    return "\n".join(lines) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description="Decode a ferrite.log image (docs/DUMP.md).")
    parser.add_argument("image")
    parser.add_argument("--geometry", required=True, help="RUN[+RUN...]@UNIT[,erased=00|ff] or a preset")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        geometry = parse_geometry(args.geometry)
    except ValueError as e:
        print("ferrite_dump: geometry '%s' is not RUN[+RUN...]@UNIT[,erased=00|ff] or one of %s (%s)"
              % (args.geometry, ", ".join(sorted(PRESETS)), e), file=sys.stderr)
        return 2
    try:
        with open(args.image, "rb") as f:
            image = f.read()
    except OSError as e:
        print("ferrite_dump: %s" % e, file=sys.stderr)
        return 2
    if len(image) != geometry.total:
        print("ferrite_dump: the geometry covers %d bytes, the image holds %d" % (geometry.total, len(image)),
              file=sys.stderr)
        return 2
    result, clean = dump(image, geometry)
    if args.json:
        sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(text(result))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
