using System.Buffers.Binary;
using System.Text;
using PmemFs.Format;

namespace PmemFs.Fuzz.Tests;

/// <summary>Every way the fuzzer damages an image.</summary>
public enum CorruptionKind
{
    /// <summary>1..8 random bit flips anywhere in the region.</summary>
    BitFlipsAnywhere,
    /// <summary>1..4 byte changes in the metadata areas, mostly where something is stored.</summary>
    BitFlipsMetadata,
    /// <summary>A superblock field (primary or secondary) changed, resealed or not.</summary>
    SuperblockField,
    /// <summary>A journal header slot field changed, resealed or not.</summary>
    JournalHeader,
    /// <summary>A committed transaction in the log: flip, or an entry field changed with the checksum recomputed.</summary>
    JournalTransaction,
    /// <summary>Bitmap bits flipped (data area, metadata area, the bits past the region).</summary>
    Bitmap,
    /// <summary>A bit flip in one table record, checksum left alone (must be detected).</summary>
    RecordFlip,
    /// <summary>A bit flip in one table record with the checksum recomputed (reaches the semantic checks).</summary>
    RecordFlipResealed,
    /// <summary>One field of an inode record set to an interesting value, resealed.</summary>
    InodeField,
    DirentField,
    ExtentField,
    RmapField,
    /// <summary>Part of a record (8- or 64-byte aligned pieces) replaced by a newer version: a torn write.</summary>
    TornRecord,
    /// <summary>The image file is shorter than the region it describes.</summary>
    Truncated,
    /// <summary>Sizes and counts no valid image has (file sizes, block counts, table counts, xattr lengths).</summary>
    ImpossibleSize,
    /// <summary>An extent (and its rmap twin, consistently) beyond the region or into metadata.</summary>
    ExtentOutOfPlace,
    /// <summary>Two extents of a file overlap in file space (twins kept consistent).</summary>
    OverlappingExtents,
    /// <summary>Two files share physical blocks (extent and twin both moved).</summary>
    CrossLink,
    /// <summary>A directory moved under its own descendant, or linked twice.</summary>
    DirectoryCycle,
    /// <summary>A name twice in one directory, a name with '/' or NUL, "." or "..".</summary>
    BadNames,
    /// <summary>A dirent pointing at a free, never-used or nonexistent inode, or with the wrong type.</summary>
    DanglingDirent,
    /// <summary>Link counts off by some (benign for mount: fsck reports it).</summary>
    LinkCount,
    /// <summary>An xattr blob: flips, or header/entry fields changed with the checksum recomputed.</summary>
    XattrBlob,
    /// <summary>Two or three of the kinds above on one image.</summary>
    Combined,
    /// <summary>
    /// On an image with shared extents: a reference-count record's count changed, the record
    /// dropped, duplicated into another slot, shifted or grown (resealed), or a bit flipped in it.
    /// </summary>
    Refcount,
    /// <summary>On an image with shared extents: a sharer's owner (twin rmap) record dropped or altered, or its extent dropped.</summary>
    SharedOwner,
}

/// <summary>One corrupted image and exactly what was done to it.</summary>
public sealed class Mutation
{
    private readonly List<string> _changes = [];
    public required string Base { get; init; }
    public required CorruptionKind Kind { get; init; }
    public required int Seed { get; init; }
    /// <summary>The corrupted image is Image[..Length] (Image may be a reused scratch buffer).</summary>
    public byte[] Image { get; set; } = [];
    public int Length { get; set; }
    public ReadOnlySpan<byte> Bytes => Image.AsSpan(0, Length);
    public string What { get; set; } = "";
    public List<Slot> TouchedSlots { get; } = [];
    public List<(ulong Ino, long Offset, int Length)> TouchedXattrs { get; } = [];
    public bool TouchedSuperblock { get; set; }
    /// <summary>The image breaks a rule fsck checks whatever the bytes look like: fsck must not call it clean.</summary>
    public bool MustBeFound { get; set; }
    /// <summary>
    /// The corruption left every extent record intact or removed one outright: the oracle repairs the
    /// image and checks it clean, with every extent that verified still there (no data lost to the repair).
    /// </summary>
    public bool CheckRepair { get; set; }
    /// <summary>The base holds shared extents (format version 2).</summary>
    public bool Shared { get; set; }

    public void Changed(long offset, ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        if (before.SequenceEqual(after)) return;
        // Only the runs of bytes that differ (runs closer than 8 bytes are shown as one).
        int i = 0;
        while (i < before.Length)
        {
            if (before[i] == after[i]) { i++; continue; }
            int end = i + 1, same = 0;
            for (int j = i + 1; j < before.Length && same < 8; j++)
            {
                if (before[j] != after[j]) { end = j + 1; same = 0; }
                else same++;
            }
            long at = offset + i;
            _changes.Add($"@{at} (0x{at:x}): {Convert.ToHexString(before[i..end])} -> {Convert.ToHexString(after[i..end])}");
            i = end;
        }
    }

    public void Note(string change) => _changes.Add(change);

    public IReadOnlyList<string> Changes => _changes;

    public override string ToString()
    {
        var sb = new StringBuilder($"base {Base}, kind {Kind}, image seed {Seed}: {What}");
        foreach (var c in _changes.Take(40)) sb.Append("\n    ").Append(c);
        if (_changes.Count > 40) sb.Append($"\n    ... {_changes.Count - 40} more changes");
        return sb.ToString();
    }
}

/// <summary>Makes corrupted copies of a base image, deterministically from a seed.</summary>
public sealed class Corruptor
{
    private readonly BaseImage _base;
    private readonly Random _rng;
    private readonly Mutation _m;
    private byte[] _img;
    private ImageMap Map => _base.Map;
    private Geometry G => _base.Map.G;

    private Corruptor(BaseImage b, CorruptionKind kind, int seed, byte[]? scratch)
    {
        _base = b;
        _rng = new Random(seed);
        if (scratch is null || scratch.Length != b.Bytes.Length) _img = (byte[])b.Bytes.Clone();
        else
        {
            b.Bytes.CopyTo(scratch, 0);
            _img = scratch;
        }
        _length = _img.Length;
        _m = new Mutation { Base = b.Name, Kind = kind, Seed = seed, Shared = b.Map.Refcounts.Count > 0 };
    }

    private int _length;

    /// <summary>A corrupted copy of <paramref name="b"/>, built in <paramref name="scratch"/> when given (same size as the base).</summary>
    public static Mutation Make(BaseImage b, CorruptionKind kind, int seed, byte[]? scratch = null)
    {
        var c = new Corruptor(b, kind, seed, scratch);
        c.Apply(kind);
        c._m.Image = c._img;
        c._m.Length = c._length;
        return c._m;
    }

    // ---- primitives that record what they change ----

    private void Store(long offset, ReadOnlySpan<byte> bytes)
    {
        var before = _img.AsSpan((int)offset, bytes.Length).ToArray();
        bytes.CopyTo(_img.AsSpan((int)offset));
        _m.Changed(offset, before, bytes);
        Touch(offset, bytes.Length);
    }

    private void Touch(long offset, int length)
    {
        for (long o = offset; o < offset + length;)
        {
            if (Map.SlotAt(o) is not { } s) { o++; continue; }
            if (!_m.TouchedSlots.Contains(s)) _m.TouchedSlots.Add(s);
            o = s.Offset + s.Size;
        }
        foreach (var x in Map.Xattrs)
            if (offset < x.Offset + x.Length && offset + length > x.Offset && !_m.TouchedXattrs.Contains(x)) _m.TouchedXattrs.Add(x);
        long secondary = Geometry.BlockOffset(G.SecondarySuperblock);
        if (offset < DiskSuperblock.Size || (offset + length > secondary && offset < secondary + DiskSuperblock.Size)) _m.TouchedSuperblock = true;
    }

    private void FlipBit(long offset, int bit) => Store(offset, [(byte)(_img[offset] ^ (1 << bit))]);

    private void XorByte(long offset) => Store(offset, [(byte)(_img[offset] ^ _rng.Next(1, 256))]);

    private void PutU8(long offset, byte v) => Store(offset, [v]);
    private void PutU16(long offset, ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); Store(offset, b); }
    private void PutU32(long offset, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); Store(offset, b); }
    private void PutU64(long offset, ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); Store(offset, b); }
    private long I64(long offset) => BinaryPrimitives.ReadInt64LittleEndian(_img.AsSpan((int)offset));
    private uint U32(long offset) => BinaryPrimitives.ReadUInt32LittleEndian(_img.AsSpan((int)offset));

    /// <summary>Recomputes the checksum in the first 4 bytes of [offset, +length).</summary>
    private void Reseal(long offset, int length)
    {
        var copy = _img.AsSpan((int)offset, length).ToArray();
        Checksum.SealRecord(copy);
        Store(offset, copy.AsSpan(0, 4));
    }

    private void Reseal(Slot s) => Reseal(s.Offset, s.Size);

    private void PutField(long offset, int width, ulong v)
    {
        switch (width)
        {
            case 1: PutU8(offset, (byte)v); break;
            case 2: PutU16(offset, (ushort)v); break;
            case 4: PutU32(offset, (uint)v); break;
            default: PutU64(offset, v); break;
        }
    }

    private T Pick<T>(IReadOnlyList<T> list) => list[_rng.Next(list.Count)];

    private bool Coin(int percent = 50) => _rng.Next(100) < percent;

    /// <summary>Values that break things: boundaries, sign flips, the geometry's own numbers.</summary>
    private ulong Interesting(ulong old, int width)
    {
        ulong max = width == 8 ? ulong.MaxValue : (1UL << (width * 8)) - 1;
        var g = G;
        ulong[] values =
        [
            0, 1, 2, old + 1, old - 1, old ^ (1UL << _rng.Next(width * 8)), max, max >> 1, (max >> 1) + 1,
            (ulong)g.BlockCount, (ulong)g.BlockCount - 1, (ulong)g.DataStart, (ulong)g.DataStart - 1, (ulong)g.InodeCount, (ulong)g.InodeCount + 1,
            (ulong)g.ExtentCount, (ulong)g.RmapCount, 1UL << 40, (1UL << 40) - 1, 1UL << 52, (1UL << 52) + 1, 1UL << 31, 1UL << 32, 4095, 4096, 69632, 65536,
            (ulong)_rng.NextInt64(),
        ];
        return values[_rng.Next(values.Length)] & max;
    }

    private static readonly (int Offset, int Width)[] InodeFields =
        [(6, 2), (8, 8), (16, 4), (20, 4), (24, 4), (28, 4), (32, 4), (36, 4), (40, 8), (48, 8), (56, 8), (88, 8), (96, 8), (104, 4), (108, 4), (112, 8), (120, 8), (200, 8)];
    private static readonly (int Offset, int Width)[] DirentFields = [(6, 1), (7, 1), (8, 8), (16, 8), (24, 8), (32, 1), (33, 1), (200, 1), (287, 1)];
    private static readonly (int Offset, int Width)[] ExtentFields = [(6, 1), (7, 1), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8)];
    private static readonly (int Offset, int Width)[] RmapFields = [(6, 1), (7, 1), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8)];
    private static readonly (int Offset, int Width)[] SuperblockFields =
        [(4, 4), (16, 8), (24, 4), (28, 4), (32, 8), (64, 8), (72, 8), (80, 8), (88, 8), (96, 8), (104, 8), (112, 8), (120, 8), (128, 8), (136, 8), (144, 8), (152, 8), (160, 8), (168, 8), (176, 8), (192, 8), (200, 8), (300, 8)];
    private static readonly int[] DirentTypes = [1, 2, 4, 6, 8, 10, 12];
    private static readonly int[] TxHeaderFields = [16, 20];
    private static readonly int[] SuperblockCounts = [104, 120, 136, 152, 72, 88];
    private static readonly (int Offset, int Width)[] JournalHeaderFields = [(4, 2), (6, 2), (8, 8), (16, 8), (24, 8), (32, 8)];

    private void SetField(Slot s, (int Offset, int Width) f)
    {
        ulong old = f.Width switch
        {
            1 => _img[s.Offset + f.Offset],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(_img.AsSpan((int)(s.Offset + f.Offset))),
            4 => U32(s.Offset + f.Offset),
            _ => (ulong)I64(s.Offset + f.Offset),
        };
        PutField(s.Offset + f.Offset, f.Width, Interesting(old, f.Width));
    }

    private Slot AnyUsedSlot()
    {
        int k = _rng.Next(5);
        return k switch
        {
            0 when Map.Inodes.Count > 0 => Pick(Map.Inodes).Slot,
            1 when Map.Dirents.Count > 0 => Pick(Map.Dirents).Slot,
            2 when Map.Extents.Count > 0 => Pick(Map.Extents).Slot,
            3 when Map.FreeUsedInodes.Count > 0 => Pick(Map.FreeUsedInodes),
            _ => Pick(Map.Rmaps).Slot,
        };
    }

    private (Slot Slot, ExtentRecord Rec, Slot Twin)? ExtentWithTwin(Func<ExtentRecord, bool>? match = null)
    {
        var candidates = Map.Extents.Where(e => match?.Invoke(e.Rec) ?? true).ToList();
        if (candidates.Count == 0) return null;
        var (s, e) = Pick(candidates);
        var twin = Map.Rmaps.First(r => r.Rec.Kind == RmapOwnerKind.InodeData && r.Rec.Owner == e.Ino && r.Rec.FileBlock == e.FileBlock);
        return (s, e, twin.Slot);
    }

    private void WriteExtent(Slot s, ExtentRecord e)
    {
        var b = new byte[DiskExtent.Size];
        DiskExtent.Seal(e, b);
        Store(s.Offset, b);
    }

    private void WriteRmap(Slot s, RmapRecord r)
    {
        var b = new byte[DiskRmap.Size];
        DiskRmap.Seal(r, b);
        Store(s.Offset, b);
    }

    private void WriteDirent(Slot s, ulong parent, ulong child, byte type, byte[] name)
    {
        // Bypasses DiskDirent.Seal, which refuses invalid names: the point is to write them.
        var b = new byte[DiskDirent.Size];
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), DiskDirent.Magic);
        b[6] = (byte)name.Length;
        b[7] = type;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), parent);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), child);
        name.AsSpan(0, Math.Min(name.Length, 256)).CopyTo(b.AsSpan(32));
        Checksum.SealRecord(b);
        Store(s.Offset, b);
    }

    private void WriteInode(InodeRecord r)
    {
        var b = new byte[DiskInode.Size];
        DiskInode.Seal(r, b);
        Store(G.InodeOffset(Geometry.SlotOfIno(r.Ino)), b);
    }

    private void SetBitmapBits(long block, long count, bool set)
    {
        for (long b = block; b < block + count; b++)
        {
            long off = Geometry.BlockOffset(G.BitmapStart) + b / 8;
            byte v = set ? (byte)(_img[off] | (1 << (int)(b % 8))) : (byte)(_img[off] & ~(1 << (int)(b % 8)));
            Store(off, [v]);
        }
    }

    private Slot FreeSlot(Table t)
    {
        var list = t switch { Table.Inode => Map.EmptyInodeSlots, Table.Dirent => Map.EmptyDirentSlots, Table.Extent => Map.EmptyExtentSlots, _ => Map.EmptyRmapSlots };
        return Map.SlotOf(t, list[_rng.Next(Math.Min(list.Count, 64))]);
    }

    private List<(Slot Slot, InodeRecord Rec)> Dirs => Map.Inodes.Where(i => i.Rec.FileType == FileTypes.Directory).ToList();

    // ---- the corruptions ----

    private void Apply(CorruptionKind kind)
    {
        switch (kind)
        {
            case CorruptionKind.BitFlipsAnywhere:
            {
                int n = _rng.Next(1, 9);
                for (int i = 0; i < n; i++) FlipBit(_rng.NextInt64(_img.Length), _rng.Next(8));
                _m.What = $"{n} bit flip(s) anywhere";
                break;
            }
            case CorruptionKind.BitFlipsMetadata:
            {
                long meta = Geometry.BlockOffset(G.DataStart);
                int n = _rng.Next(1, 5);
                for (int i = 0; i < n; i++)
                {
                    long off = _rng.NextInt64(meta);
                    if (Coin(75))
                    {
                        // Prefer stored bytes: a used slot, the superblock, the journal header or log.
                        off = _rng.Next(4) switch
                        {
                            0 => _rng.Next(DiskSuperblock.Size),
                            1 => G.JournalHeaderOffset + _rng.Next(128),
                            2 when Map.Journal.Count > 0 => Pick(Map.Journal) is var t ? t.Offset + _rng.Next(t.EncodedLength) : 0,
                            _ => AnyUsedSlot() is var s ? s.Offset + _rng.Next(s.Size) : 0,
                        };
                    }
                    XorByte(off);
                }
                _m.What = $"{n} byte change(s) in the metadata";
                break;
            }
            case CorruptionKind.SuperblockField:
            {
                bool secondary = Coin(40);
                long at = secondary ? Geometry.BlockOffset(G.SecondarySuperblock) : 0;
                var f = Pick(SuperblockFields);
                SetField(new Slot(Table.Inode, -1, at, DiskSuperblock.Size), f);
                bool reseal = Coin(75);
                if (reseal) Reseal(at, DiskSuperblock.Size);
                if (Coin(15))
                {
                    // Both copies damaged the same way.
                    long other = secondary ? 0 : Geometry.BlockOffset(G.SecondarySuperblock);
                    Store(other, _img.AsSpan((int)at, DiskSuperblock.Size).ToArray());
                }
                _m.What = $"{(secondary ? "secondary" : "primary")} superblock field at {f.Offset} changed{(reseal ? ", resealed" : "")}";
                break;
            }
            case CorruptionKind.JournalHeader:
            {
                int slot = _rng.Next(2);
                long at = G.JournalHeaderOffset + slot * DiskJournalHeader.Size;
                var f = Pick(JournalHeaderFields);
                SetField(new Slot(Table.Inode, -1, at, DiskJournalHeader.Size), f);
                bool reseal = Coin(70);
                if (reseal) Reseal(at, DiskJournalHeader.Size);
                _m.What = $"journal header slot {slot} field at {f.Offset} changed{(reseal ? ", resealed" : "")}";
                break;
            }
            case CorruptionKind.JournalTransaction:
                CorruptJournalTransaction();
                break;
            case CorruptionKind.Bitmap:
            {
                int n = _rng.Next(1, 6);
                for (int i = 0; i < n; i++)
                {
                    long block = _rng.Next(4) switch
                    {
                        0 => _rng.NextInt64(G.DataStart),
                        1 when Map.Extents.Count > 0 => Pick(Map.Extents).Rec.PhysBlock,
                        2 => G.BlockCount - 1 + _rng.Next(64 - (int)(G.BlockCount % 64) + 1),
                        _ => G.DataStart + _rng.NextInt64(G.DataBlocks),
                    };
                    long off = Geometry.BlockOffset(G.BitmapStart) + block / 8;
                    if (off >= Geometry.BlockOffset(G.BitmapStart + G.BitmapBlocks)) continue;
                    FlipBit(off, (int)(block % 8));
                }
                if (Coin(10))
                {
                    long w = Geometry.BlockOffset(G.BitmapStart) + _rng.Next((int)Math.Min(G.BitmapBlocks * 4096, G.BlockCount / 8 + 8) / 8) * 8;
                    PutU64(w, Coin() ? 0 : ulong.MaxValue);
                }
                _m.What = "bitmap bits flipped";
                break;
            }
            case CorruptionKind.RecordFlip:
            {
                var s = AnyUsedSlot();
                int n = _rng.Next(1, 4);
                for (int i = 0; i < n; i++) FlipBit(s.Offset + _rng.Next(s.Size), _rng.Next(8));
                _m.What = $"{n} bit flip(s) in {s.Table} slot {s.Index}, checksum not recomputed";
                break;
            }
            case CorruptionKind.RecordFlipResealed:
            {
                var s = AnyUsedSlot();
                FlipBit(s.Offset + _rng.Next(4, s.Size), _rng.Next(8));
                Reseal(s);
                _m.What = $"bit flip in {s.Table} slot {s.Index}, resealed";
                break;
            }
            case CorruptionKind.InodeField:
            {
                var s = Coin(90) || Map.FreeUsedInodes.Count == 0 ? Pick(Map.Inodes).Slot : Pick(Map.FreeUsedInodes);
                int n = _rng.Next(1, 3);
                for (int i = 0; i < n; i++) SetField(s, Pick(InodeFields));
                Reseal(s);
                _m.What = $"inode slot {s.Index}: {n} field(s) changed, resealed";
                break;
            }
            case CorruptionKind.DirentField:
                FieldOf(Map.Dirents.Select(d => d.Slot).ToList(), DirentFields, "dirent");
                break;
            case CorruptionKind.ExtentField:
                FieldOf(Map.Extents.Select(d => d.Slot).ToList(), ExtentFields, "extent");
                break;
            case CorruptionKind.RmapField:
                FieldOf(Map.Rmaps.Select(d => d.Slot).ToList(), RmapFields, "rmap");
                break;
            case CorruptionKind.TornRecord:
                TornRecord();
                break;
            case CorruptionKind.Truncated:
            {
                int len = _rng.Next(6) switch
                {
                    0 => _rng.Next(1, 4096),
                    1 => (int)(FormatConstants.MinimumRegionSize - 4096),
                    2 => _img.Length - 4096,
                    3 => _img.Length - _rng.Next(1, 4096),
                    4 => (int)Geometry.BlockOffset(G.DataStart) + _rng.Next(4096),
                    _ => _rng.Next(1, _img.Length),
                };
                _m.Note($"truncated from {_img.Length} to {len} bytes");
                _length = len;
                _m.What = $"image truncated to {len} bytes";
                break;
            }
            case CorruptionKind.ImpossibleSize:
                ImpossibleSize();
                break;
            case CorruptionKind.ExtentOutOfPlace:
            {
                if (ExtentWithTwin() is not { } x) break;
                long phys = _rng.Next(6) switch
                {
                    0 => G.BlockCount - 1,
                    1 => G.BlockCount + _rng.Next(100),
                    2 => G.InodeTableStart + _rng.Next(3),
                    3 => G.DataStart - 1,
                    4 => 1,
                    _ => G.DataEnd - x.Rec.BlockCount + 1,
                };
                WriteExtent(x.Slot, x.Rec with { PhysBlock = phys });
                var twin = Map.Rmaps.First(r => r.Slot == x.Twin).Rec;
                WriteRmap(x.Twin, twin with { PhysBlock = phys });
                if (phys < G.BlockCount) SetBitmapBits(phys, Math.Min(x.Rec.BlockCount, G.BlockCount - phys), true);
                _m.What = $"extent slot {x.Slot.Index} (inode {x.Rec.Ino}) and its rmap twin moved to physical block {phys}";
                break;
            }
            case CorruptionKind.OverlappingExtents:
                OverlappingExtents();
                break;
            case CorruptionKind.CrossLink:
            {
                if (ExtentWithTwin() is not { } x) break;
                var other = Pick(Map.Extents.Where(e => e.Rec.Ino != x.Rec.Ino).Select(e => e.Rec).DefaultIfEmpty(x.Rec).ToList());
                long phys = other.PhysBlock;
                if (phys + x.Rec.BlockCount > G.DataEnd) phys = G.DataEnd - x.Rec.BlockCount;
                WriteExtent(x.Slot, x.Rec with { PhysBlock = phys });
                var twin = Map.Rmaps.First(r => r.Slot == x.Twin).Rec;
                WriteRmap(x.Twin, twin with { PhysBlock = phys });
                SetBitmapBits(phys, x.Rec.BlockCount, true);
                _m.What = $"extent slot {x.Slot.Index} (inode {x.Rec.Ino}) and its twin now map blocks {phys}.. of inode {other.Ino}";
                break;
            }
            case CorruptionKind.DirectoryCycle:
                DirectoryCycle();
                break;
            case CorruptionKind.BadNames when Map.Dirents.Count > 0:
                BadNames();
                break;
            case CorruptionKind.DanglingDirent when Map.Dirents.Count > 0:
            {
                var (s, d) = Pick(Map.Dirents);
                ulong child = _rng.Next(5) switch
                {
                    0 when Map.FreeUsedInodes.Count > 0 => Geometry.InoOfSlot(Pick(Map.FreeUsedInodes).Index),
                    1 => Geometry.InoOfSlot(Pick(Map.EmptyInodeSlots)),
                    2 => (ulong)G.InodeCount + 1 + (ulong)_rng.Next(3),
                    3 => ulong.MaxValue,
                    _ => d.Child,
                };
                byte type = child == d.Child ? (byte)Pick(DirentTypes.Where(t => t != d.Type).ToList()) : d.Type;
                WriteDirent(s, d.Parent, child, type, d.Name);
                _m.What = $"dirent slot {s.Index} now points at inode {child} with type {type}";
                break;
            }
            case CorruptionKind.LinkCount:
            {
                var (s, r) = Pick(Map.Inodes);
                uint nlink = _rng.Next(4) switch { 0 => 0, 1 => r.Nlink + 1, 2 => r.Nlink - 1, _ => uint.MaxValue };
                WriteInode(r with { Nlink = nlink });
                _m.What = $"inode {r.Ino} nlink {r.Nlink} -> {nlink}";
                break;
            }
            case CorruptionKind.XattrBlob:
                XattrBlob();
                break;
            case CorruptionKind.Refcount:
                RefcountCorruption();
                break;
            case CorruptionKind.SharedOwner:
                SharedOwnerCorruption();
                break;
            case CorruptionKind.Combined:
            {
                var whats = new List<string>();
                int n = _rng.Next(2, 4);
                for (int i = 0; i < n; i++)
                {
                    var k = (CorruptionKind)_rng.Next((int)CorruptionKind.Combined);
                    if (k == CorruptionKind.Truncated && Coin(80)) k = CorruptionKind.RecordFlipResealed;
                    _m.What = "";
                    Apply(k);
                    whats.Add($"{k}: {_m.What}");
                }
                _m.What = string.Join("; ", whats);
                break;
            }
        }
    }

    private void WriteRefcount(Slot s, RefcountRecord r)
    {
        var b = new byte[DiskRefcount.Size];
        DiskRefcount.Seal(r, b);
        Store(s.Offset, b);
    }

    private void RefcountCorruption()
    {
        if (Map.Refcounts.Count == 0) return;
        var (s, rc) = Pick(Map.Refcounts);
        _m.MustBeFound = _m.CheckRepair = true;
        switch (_rng.Next(6))
        {
            case 0:
            {
                ulong refs = _rng.Next(3) switch { 0 => rc.Refs + 1, 1 => rc.Refs - 1, _ => rc.Refs + (ulong)_rng.Next(2, 1000) };
                WriteRefcount(s, rc with { Refs = refs });
                _m.What = $"refcount slot {s.Index}: count {rc.Refs} -> {refs}";
                break;
            }
            case 1:
                Store(s.Offset, new byte[s.Size]);
                _m.What = $"refcount slot {s.Index} ({rc.Refs} for block {rc.PhysBlock}) dropped";
                break;
            case 2:
            {
                var to = FreeSlot(Table.Rmap);
                WriteRefcount(to, Coin() ? rc : rc with { Refs = rc.Refs + 1 });
                _m.What = $"refcount slot {s.Index} duplicated into rmap slot {to.Index}";
                break;
            }
            case 3:
            {
                long shift = Coin() ? 1 : -1;
                WriteRefcount(s, rc with { PhysBlock = rc.PhysBlock + shift });
                _m.What = $"refcount slot {s.Index} shifted by {shift} block(s)";
                break;
            }
            case 4:
            {
                long more = _rng.Next(1, 4);
                WriteRefcount(s, Coin() ? rc with { BlockCount = rc.BlockCount + more } : rc with { PhysBlock = rc.PhysBlock - more, BlockCount = rc.BlockCount + more });
                _m.What = $"refcount slot {s.Index} grown by {more} block(s)";
                break;
            }
            default:
                FlipBit(s.Offset + _rng.Next(4, s.Size), _rng.Next(8));
                _m.What = $"bit flip in refcount slot {s.Index}, checksum not recomputed";
                break;
        }
    }

    private void SharedOwnerCorruption()
    {
        var shared = Map.Extents.Where(e => Map.Refcounts.Any(r => r.Rec.PhysBlock < e.Rec.PhysEnd && e.Rec.PhysBlock < r.Rec.PhysEnd)).ToList();
        if (shared.Count == 0) return;
        var (es, e) = Pick(shared);
        var twin = Map.Rmaps.First(r => r.Rec.Kind == RmapOwnerKind.InodeData && r.Rec.Owner == e.Ino && r.Rec.FileBlock == e.FileBlock);
        _m.MustBeFound = _m.CheckRepair = true;
        switch (_rng.Next(5))
        {
            case 0:
                Store(twin.Slot.Offset, new byte[twin.Slot.Size]);
                _m.What = $"owner record (rmap slot {twin.Slot.Index}) of shared extent slot {es.Index} (inode {e.Ino}) dropped";
                break;
            case 1:
            {
                long shift = Coin() ? 1 : -1;
                WriteRmap(twin.Slot, twin.Rec with { PhysBlock = twin.Rec.PhysBlock + shift });
                _m.What = $"owner record (rmap slot {twin.Slot.Index}) of shared extent slot {es.Index} shifted by {shift} block(s)";
                break;
            }
            case 2:
            {
                WriteRmap(twin.Slot, twin.Rec with { FileBlock = twin.Rec.FileBlock + _rng.Next(1, 5) });
                _m.What = $"owner record (rmap slot {twin.Slot.Index}) of shared extent slot {es.Index}: file block changed";
                break;
            }
            case 3:
            {
                var other = Pick(Map.Inodes.Where(i => i.Rec.FileType == FileTypes.Regular && i.Rec.Ino != e.Ino).ToList()).Rec.Ino;
                WriteRmap(twin.Slot, twin.Rec with { Owner = other });
                _m.What = $"owner record (rmap slot {twin.Slot.Index}) of shared extent slot {es.Index}: owner {e.Ino} -> {other}";
                break;
            }
            default:
                // The sharer's extent itself goes (its twin and the count stay): data lost by the corruption, not by the repair.
                Store(es.Offset, new byte[es.Size]);
                _m.What = $"shared extent slot {es.Index} (inode {e.Ino}) dropped, its owner record and count kept";
                break;
        }
    }

    private void FieldOf(List<Slot> slots, (int Offset, int Width)[] fields, string what)
    {
        if (slots.Count == 0) return;
        var s = Pick(slots);
        int n = _rng.Next(1, 3);
        for (int i = 0; i < n; i++) SetField(s, Pick(fields));
        Reseal(s);
        _m.What = $"{what} slot {s.Index}: {n} field(s) changed, resealed";
    }

    private void CorruptJournalTransaction()
    {
        if (Map.Journal.Count == 0)
        {
            // No pending transaction: forge one at the tail with garbage entries.
            ForgeTransaction();
            return;
        }
        var tx = Pick(Map.Journal);
        if (Coin(30))
        {
            FlipBit(tx.Offset + _rng.Next(tx.EncodedLength), _rng.Next(8));
            _m.What = $"bit flip in the committed transaction at log byte {tx.Offset - G.LogOffset}, checksum not recomputed";
            return;
        }
        // Change an entry field (or a header field) and recompute the transaction checksum.
        var body = _img.AsSpan((int)tx.Offset + LogTransaction.HeaderSize, tx.BodyLength);
        var entryStarts = new List<int>();
        int pos = 0;
        for (int i = 0; i < tx.Entries && pos + 16 <= body.Length; i++)
        {
            entryStarts.Add(pos);
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(body[(pos + 4)..]);
            pos += 16 + (body[pos] == 1 ? (len + 7) / 8 * 8 : 0);
        }
        string what;
        if (entryStarts.Count > 0 && Coin(80))
        {
            long e = tx.Offset + LogTransaction.HeaderSize + Pick(entryStarts);
            switch (_rng.Next(4))
            {
                case 0: PutU8(e, (byte)_rng.Next(0, 7)); what = "entry kind"; break;
                case 1: PutU32(e + 4, (uint)Interesting(U32(e + 4), 4)); what = "entry length"; break;
                case 2: PutU64(e + 8, Interesting((ulong)I64(e + 8), 8)); what = "entry target"; break;
                default: XorByte(e + 16 + _rng.Next(8)); what = "entry payload"; break;
            }
        }
        else
        {
            int field = Pick(TxHeaderFields);
            PutU32(tx.Offset + field, (uint)Interesting(U32(tx.Offset + field), 4));
            what = field == 16 ? "body length" : "entry count";
        }
        ResealTransaction(tx.Offset);
        _m.What = $"committed transaction at log byte {tx.Offset - G.LogOffset}: {what} changed, checksum recomputed";
    }

    private void ResealTransaction(long at)
    {
        uint length = U32(at + 16);
        if (length > G.LogBytes - (at - G.LogOffset) - LogTransaction.HeaderSize) return; // cannot cover it: leave the checksum
        var hdr = _img.AsSpan((int)at, LogTransaction.HeaderSize);
        uint crc = Checksum.Append(Checksum.Start, hdr[4..56]);
        crc = Checksum.Finish(Checksum.Append(crc, _img.AsSpan((int)at + LogTransaction.HeaderSize, (int)length)));
        PutU32(at, crc);
    }

    /// <summary>A committed transaction at the journal tail whose entries are nonsense (the checksum and commit word are right).</summary>
    private void ForgeTransaction()
    {
        var header = DiskJournalHeader.ReadNewest(_img.AsSpan((int)G.JournalHeaderOffset, 128), G.LogBytes, out _);
        if (header is not { } h) return;
        var tx = new LogTransaction();
        int entries = _rng.Next(1, 4);
        for (int i = 0; i < entries; i++)
        {
            switch (_rng.Next(5))
            {
                case 0: tx.Write(Geometry.BlockOffset(G.DataStart) - _rng.Next(0, 64), new byte[_rng.Next(1, 300)]); break;
                case 1: tx.Zero((long)Interesting(0, 8) >> 1, _rng.Next(0, 1 << 20)); break;
                case 2: tx.SetBits(G.BlockCount - _rng.Next(0, 3), _rng.Next(1, 10)); break;
                case 3: tx.ClearBits((long)Interesting((ulong)G.DataStart, 8) >> 1, _rng.Next(1, 100)); break;
                default:
                {
                    // A "valid" write over a live record: an inode with an impossible size.
                    var (s, r) = Pick(Map.Inodes);
                    var b = new byte[DiskInode.Size];
                    DiskInode.Seal(r with { Size = r.FileType == FileTypes.Directory ? 0 : FormatConstants.MaxFileSize }, b);
                    tx.Write(s.Offset, b);
                    break;
                }
            }
        }
        var buf = new byte[tx.EncodedLength];
        if (buf.Length > G.LogBytes - h.TailOffset) return;
        tx.EncodeUncommitted(h.TailSeq, buf);
        BinaryPrimitives.WriteUInt64LittleEndian(buf.AsSpan(LogTransaction.CommitWordOffset), LogTransaction.CommitWord(h.TailSeq, Map.Superblock.JournalSalt));
        Store(G.LogOffset + h.TailOffset, buf);
        _m.What = $"forged committed transaction {h.TailSeq} with {entries} odd entr(ies) at the journal tail";
    }

    private void TornRecord()
    {
        var s = AnyUsedSlot();
        var old = _img.AsSpan((int)s.Offset, s.Size).ToArray();
        // The "new version" the interrupted write was storing: some fields changed, resealed.
        var nw = (byte[])old.Clone();
        int changes = _rng.Next(1, 4);
        for (int i = 0; i < changes; i++) nw[_rng.Next(4, s.Size)] ^= (byte)_rng.Next(1, 256);
        if (Coin(20)) Array.Clear(nw); // being freed
        else Checksum.SealRecord(nw);
        int piece = Coin() ? 8 : 64;
        var torn = (byte[])old.Clone();
        int pieces = (s.Size + piece - 1) / piece;
        int kept = 0;
        for (int p = 0; p < pieces; p++)
        {
            if (!Coin()) continue;
            int start = p * piece, len = Math.Min(piece, s.Size - start);
            nw.AsSpan(start, len).CopyTo(torn.AsSpan(start));
            kept++;
        }
        Store(s.Offset, torn);
        _m.What = $"torn write of {s.Table} slot {s.Index}: {kept} of {pieces} {piece}-byte pieces of a new version landed";
    }

    private void ImpossibleSize()
    {
        switch (_rng.Next(6))
        {
            case 0:
            {
                var (s, r) = Pick(Map.Inodes.Where(i => i.Rec.FileType is FileTypes.Regular or FileTypes.Symlink).DefaultIfEmpty(Map.Inodes[0]).ToList());
                long size = Pick(new[] { FormatConstants.MaxFileSize, FormatConstants.MaxFileSize - 1, FormatConstants.MaxFileSize + 1, long.MaxValue, -1, 4096, 4095, 0, 1L << 40, int.MaxValue + 1L });
                WriteInode(r with { Size = size });
                _m.What = $"inode {r.Ino} size {r.Size} -> {size}";
                break;
            }
            case 1:
            {
                var (s, r) = Pick(Map.Inodes);
                uint len = (uint)Interesting(r.XattrLength, 4), blocks = (uint)Interesting(r.XattrBlocks, 4);
                long block = Coin() ? r.XattrBlock : (long)Interesting((ulong)r.XattrBlock, 8);
                WriteInode(r with { XattrLength = len, XattrBlocks = blocks, XattrBlock = block });
                _m.What = $"inode {r.Ino} xattr blob (block {r.XattrBlock}, {r.XattrBlocks} blocks, {r.XattrLength} bytes) -> ({block}, {blocks}, {len})";
                break;
            }
            case 2:
            {
                if (ExtentWithTwin() is not { } x) break;
                long count = Pick(new[] { G.DataBlocks + 1, G.BlockCount, 1L << 30, (1L << 40) - x.Rec.FileBlock, long.MaxValue, 1L << 62 });
                WriteExtent(x.Slot, x.Rec with { BlockCount = count });
                var twin = Map.Rmaps.First(r => r.Slot == x.Twin).Rec;
                if (Coin(70)) WriteRmap(x.Twin, twin with { BlockCount = count });
                _m.What = $"extent slot {x.Slot.Index} block count {x.Rec.BlockCount} -> {count}";
                break;
            }
            case 3:
            {
                if (ExtentWithTwin() is not { } x) break;
                long fb = Pick(new[] { (1L << 40) - x.Rec.BlockCount, (1L << 40) - 1, long.MaxValue - 1, (1L << 40) - x.Rec.BlockCount - 1 });
                WriteExtent(x.Slot, x.Rec with { FileBlock = fb });
                var twin = Map.Rmaps.First(r => r.Slot == x.Twin).Rec;
                WriteRmap(x.Twin, twin with { FileBlock = fb });
                var owner = Map.Inode(x.Rec.Ino);
                if (owner is { } o && Coin()) WriteInode(o with { Size = Math.Min(FormatConstants.MaxFileSize, (fb + x.Rec.BlockCount) * 4096) });
                _m.What = $"extent slot {x.Slot.Index} (and twin) file block {x.Rec.FileBlock} -> {fb}";
                break;
            }
            case 4:
            {
                // Table counts beyond what the region holds (superblock, resealed).
                int field = Pick(SuperblockCounts);
                PutU64(field, Interesting((ulong)I64(field), 8));
                Reseal(0, DiskSuperblock.Size);
                if (Coin()) Store(Geometry.BlockOffset(G.SecondarySuperblock), _img.AsSpan(0, DiskSuperblock.Size).ToArray());
                _m.What = $"superblock count at {field} changed, resealed";
                break;
            }
            default:
            {
                // Pending trim on files.
                var (s, r) = Pick(Map.Inodes);
                long trim = Pick(new[] { 1L, 2L, long.MaxValue, (1L << 40) + 1, -5 });
                WriteInode(r with { PendingTrim = trim });
                _m.What = $"inode {r.Ino} pending trim -> {trim}";
                break;
            }
        }
    }

    private void OverlappingExtents()
    {
        // Shift an extent in file space onto its neighbour (twin consistent), or add a second mapping.
        if (ExtentWithTwin(e => Map.Extents.Count(o => o.Rec.Ino == e.Ino) >= 2) is { } x && Coin())
        {
            var others = Map.Extents.Where(o => o.Rec.Ino == x.Rec.Ino && o.Slot != x.Slot).ToList();
            var other = Pick(others).Rec;
            long fb = Math.Max(0, other.FileBlock + _rng.Next((int)Math.Min(other.BlockCount, 4)) - (Coin() ? 0 : x.Rec.BlockCount - 1));
            WriteExtent(x.Slot, x.Rec with { FileBlock = fb });
            var twin = Map.Rmaps.First(r => r.Slot == x.Twin).Rec;
            WriteRmap(x.Twin, twin with { FileBlock = fb });
            _m.What = $"extent slot {x.Slot.Index} (inode {x.Rec.Ino}) moved to file block {fb}, over another extent";
            return;
        }
        if (ExtentWithTwin() is not { } y) return;
        // A new extent in a free slot mapping free blocks over the same file range, with its twin and bits.
        long phys = G.DataEnd - 1 - _rng.Next(50) - y.Rec.BlockCount;
        var es = FreeSlot(Table.Extent);
        var rs = FreeSlot(Table.Rmap);
        long count = Math.Min(y.Rec.BlockCount, 8);
        long fileBlock = y.Rec.FileBlock + _rng.Next((int)Math.Min(y.Rec.BlockCount, 8));
        WriteExtent(es, new ExtentRecord(y.Rec.Ino, fileBlock, phys, count, Coin() ? ExtentState.Written : ExtentState.Unwritten));
        WriteRmap(rs, new RmapRecord(phys, count, RmapOwnerKind.InodeData, y.Rec.Ino, fileBlock));
        SetBitmapBits(phys, count, true);
        _m.What = $"new extent slot {es.Index} + rmap slot {rs.Index}: inode {y.Rec.Ino} file blocks {fileBlock}.. -> {phys}.., over extent slot {y.Slot.Index}";
    }

    private void DirectoryCycle()
    {
        var dirs = Dirs.Where(d => d.Rec.Ino != FormatConstants.RootIno).Select(d => d.Rec.Ino).ToHashSet();
        var parentOf = Map.Dirents.Where(d => dirs.Contains(d.Rec.Child)).ToDictionary(d => d.Rec.Child, d => d);
        if (parentOf.Count == 0) return;
        var descendants = new List<(ulong Top, ulong Below)>();
        foreach (var (child, _) in parentOf)
        {
            // Walk up from each directory: every ancestor (but the root) has it as a descendant.
            ulong cur = child;
            for (int guard = 0; guard < 64 && parentOf.TryGetValue(cur, out var up); guard++)
            {
                if (up.Rec.Parent == FormatConstants.RootIno) break;
                descendants.Add((up.Rec.Parent, child));
                cur = up.Rec.Parent;
            }
        }
        switch (_rng.Next(4))
        {
            case 0 when descendants.Count > 0:
            {
                // Move a directory under its own descendant: the entry naming it now lives in the descendant.
                var (top, below) = Pick(descendants);
                var (s, d) = parentOf[top];
                WriteDirent(s, below, d.Child, d.Type, d.Name);
                _m.What = $"dirent slot {s.Index} naming directory {top} moved into its descendant {below} (a cycle)";
                break;
            }
            case 1:
            {
                // A directory entry naming its own directory.
                var (s, d) = Pick(parentOf.Values.ToList());
                WriteDirent(s, d.Child, d.Child, d.Type, d.Name);
                _m.What = $"dirent slot {s.Index}: directory {d.Child} now lives in itself";
                break;
            }
            case 2:
            {
                // A subdirectory's entry pointing back at an ancestor (or the root).
                var (s, d) = Pick(parentOf.Values.ToList());
                ulong ancestor = parentOf.TryGetValue(d.Parent, out var up) && Coin() ? up.Rec.Parent : d.Parent;
                WriteDirent(s, d.Parent, ancestor, d.Type, d.Name);
                _m.What = $"dirent slot {s.Index} in {d.Parent} now points back at ancestor {ancestor}";
                break;
            }
            default:
            {
                // A directory linked twice: a new entry elsewhere naming it.
                var (_, d) = Pick(parentOf.Values.ToList());
                ulong where = Pick(Dirs).Rec.Ino;
                var s = FreeSlot(Table.Dirent);
                WriteDirent(s, where, d.Child, d.Type, BaseImages.N($"twice-{_rng.Next(1000)}"));
                _m.What = $"new dirent slot {s.Index} in {where} links directory {d.Child} a second time";
                break;
            }
        }
    }

    private void BadNames()
    {
        var (s, d) = Pick(Map.Dirents);
        byte[] name;
        string what;
        switch (_rng.Next(6))
        {
            case 0:
            {
                // Rename to a sibling's name.
                var sib = Map.Dirents.Where(o => o.Rec.Parent == d.Parent && o.Slot != s).Select(o => o.Rec.Name).DefaultIfEmpty(d.Name).ToList();
                name = Pick(sib);
                what = "a sibling's name";
                break;
            }
            case 1:
            {
                // A second entry with the same name in the same directory (a free slot), maybe the same child.
                var f = FreeSlot(Table.Dirent);
                var other = Pick(Map.Inodes.Where(i => i.Rec.FileType != FileTypes.Directory).DefaultIfEmpty(Map.Inodes[0]).ToList()).Rec;
                ulong child = Coin() ? d.Child : other.Ino;
                byte type = child == d.Child ? d.Type : FileTypes.ToDirentType(other.Mode);
                WriteDirent(f, d.Parent, child, type, d.Name);
                _m.What = $"new dirent slot {f.Index} repeats name {Encoding.UTF8.GetString(d.Name)} in directory {d.Parent}";
                return;
            }
            case 2: name = [.. d.Name.Take(2), (byte)'/', .. d.Name.Skip(2)]; what = "'/'"; break;
            case 3: name = [.. d.Name.Take(1), 0, .. d.Name.Skip(1)]; what = "NUL"; break;
            case 4: name = Coin() ? "."u8.ToArray() : ".."u8.ToArray(); what = "dot name"; break;
            default: name = Coin() ? [] : Enumerable.Repeat((byte)'n', 255).ToArray(); what = "empty or longest name"; break;
        }
        WriteDirent(s, d.Parent, d.Child, d.Type, name);
        _m.What = $"dirent slot {s.Index} renamed ({what})";
    }

    private void XattrBlob()
    {
        if (Map.Xattrs.Count == 0) { ImpossibleSize(); return; }
        var (ino, off, len) = Pick(Map.Xattrs);
        if (Coin(35))
        {
            FlipBit(off + _rng.Next(len), _rng.Next(8));
            _m.What = $"bit flip in the xattr blob of inode {ino}";
            return;
        }
        // Walk entries, change one field, reseal.
        var entries = new List<long>();
        long pos = off + 16;
        uint count = U32(off + 8);
        for (uint i = 0; i < count && pos + 8 <= off + len; i++)
        {
            entries.Add(pos);
            pos += 8 + _img[pos] + U32(pos + 4);
        }
        string what;
        int k = _rng.Next(6);
        if (k == 0 || entries.Count == 0) { PutU32(off + 8, (uint)Interesting(count, 4)); what = "entry count"; }
        else if (k == 1) { PutU32(off + 12, 1); what = "reserved header word"; }
        else if (k == 2) { PutU16(off + 6, 2); what = "version"; }
        else
        {
            long e = Pick(entries);
            switch (_rng.Next(4))
            {
                case 0: PutU8(e, (byte)Interesting(_img[e], 1)); what = "entry name length"; break;
                case 1: PutU32(e + 4, (uint)Interesting(U32(e + 4), 4)); what = "entry value length"; break;
                case 2: PutU8(e + 1, 1); what = "entry reserved byte"; break;
                default:
                {
                    // Repeat the first entry's name.
                    long first = entries[0];
                    int n = Math.Min(_img[first], _img[e]);
                    if (e != first && n > 0) Store(e + 8, _img.AsSpan((int)first + 8, n).ToArray());
                    what = "entry name repeated";
                    break;
                }
            }
        }
        Reseal(off, len);
        _m.What = $"xattr blob of inode {ino}: {what} changed, resealed";
    }
}
