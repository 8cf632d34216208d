using System.Buffers.Binary;
using PmemFs.Format;

namespace PmemFs.Fuzz.Tests;

/// <summary>What a table slot is: which table, which slot, where its bytes are.</summary>
public enum Table { Inode, Dirent, Extent, Rmap }

public readonly record struct Slot(Table Table, long Index, long Offset, int Size);

/// <summary>A committed transaction still in the log (what replay would apply).</summary>
public readonly record struct LogTx(long Offset, int EncodedLength, int BodyLength, int Entries);

/// <summary>
/// Where every structure of a (valid) image lies, parsed through the Format layer: what the
/// structure-aware corruptions aim at.
/// </summary>
public sealed class ImageMap
{
    public required Superblock Superblock { get; init; }
    public Geometry G => Superblock.Geometry;
    public List<(Slot Slot, InodeRecord Rec)> Inodes { get; } = [];
    /// <summary>Slots holding a free record that was used before (checksummed, mode 0).</summary>
    public List<Slot> FreeUsedInodes { get; } = [];
    public List<(Slot Slot, DirentRecord Rec)> Dirents { get; } = [];
    public List<(Slot Slot, ExtentRecord Rec)> Extents { get; } = [];
    public List<(Slot Slot, RmapRecord Rec)> Rmaps { get; } = [];
    /// <summary>Reference-count records (rmap-table slots with the "RC" magic, format version 2).</summary>
    public List<(Slot Slot, RefcountRecord Rec)> Refcounts { get; } = [];
    public List<long> EmptyInodeSlots { get; } = [];
    public List<long> EmptyDirentSlots { get; } = [];
    public List<long> EmptyExtentSlots { get; } = [];
    public List<long> EmptyRmapSlots { get; } = [];
    /// <summary>Xattr blobs: owner, byte offset, meaningful length.</summary>
    public List<(ulong Ino, long Offset, int Length)> Xattrs { get; } = [];
    public List<LogTx> Journal { get; } = [];
    public long JournalTailOffset { get; private set; }

    public Slot SlotOf(Table t, long index) => t switch
    {
        Table.Inode => new Slot(t, index, G.InodeOffset(index), DiskInode.Size),
        Table.Dirent => new Slot(t, index, G.DirentOffset(index), DiskDirent.Size),
        Table.Extent => new Slot(t, index, G.ExtentOffset(index), DiskExtent.Size),
        _ => new Slot(t, index, G.RmapOffset(index), DiskRmap.Size),
    };

    /// <summary>The table slot holding byte <paramref name="offset"/>, if any.</summary>
    public Slot? SlotAt(long offset)
    {
        foreach (var (t, count) in new[] { (Table.Inode, G.InodeCount), (Table.Dirent, G.DirentCount), (Table.Extent, G.ExtentCount), (Table.Rmap, G.RmapCount) })
        {
            var first = SlotOf(t, 0);
            if (offset >= first.Offset && offset < first.Offset + count * first.Size)
                return SlotOf(t, (offset - first.Offset) / first.Size);
        }
        return null;
    }

    public bool IsDirectory(ulong ino) => Inodes.Any(i => i.Rec.Ino == ino && i.Rec.FileType == FileTypes.Directory);

    public InodeRecord? Inode(ulong ino)
    {
        foreach (var (_, r) in Inodes) if (r.Ino == ino) return r;
        return null;
    }

    public static ImageMap Parse(byte[] image)
    {
        var sbv = DiskSuperblock.VerifyRead(image.AsSpan(0, DiskSuperblock.Size), out var sb);
        if (!sbv.IsOk || sb is null) throw new InvalidOperationException("base image has no valid primary superblock");
        var map = new ImageMap { Superblock = sb };
        var g = sb.Geometry;
        for (long i = 0; i < g.InodeCount; i++)
        {
            var s = map.SlotOf(Table.Inode, i);
            var v = DiskInode.VerifyRead(image.AsSpan((int)s.Offset, s.Size), Geometry.InoOfSlot(i), out var r);
            if (v.Verdict == Verdict.Empty) map.EmptyInodeSlots.Add(i);
            else if (v.IsOk && r.IsFree) map.FreeUsedInodes.Add(s);
            else if (v.IsOk)
            {
                map.Inodes.Add((s, r));
                if (r.XattrBlock != 0) map.Xattrs.Add((r.Ino, Geometry.BlockOffset(r.XattrBlock), (int)r.XattrLength));
            }
        }
        for (long i = 0; i < g.DirentCount; i++)
        {
            var s = map.SlotOf(Table.Dirent, i);
            var v = DiskDirent.VerifyRead(image.AsSpan((int)s.Offset, s.Size), i, out var r);
            if (v.Verdict == Verdict.Empty) map.EmptyDirentSlots.Add(i);
            else if (v.IsOk) map.Dirents.Add((s, r));
        }
        for (long i = 0; i < g.ExtentCount; i++)
        {
            var s = map.SlotOf(Table.Extent, i);
            var v = DiskExtent.VerifyRead(image.AsSpan((int)s.Offset, s.Size), i, out var r);
            if (v.Verdict == Verdict.Empty) map.EmptyExtentSlots.Add(i);
            else if (v.IsOk) map.Extents.Add((s, r));
        }
        for (long i = 0; i < g.RmapCount; i++)
        {
            var s = map.SlotOf(Table.Rmap, i);
            if (DiskRefcount.IsRefcountSlot(image.AsSpan((int)s.Offset, s.Size)))
            {
                if (DiskRefcount.VerifyRead(image.AsSpan((int)s.Offset, s.Size), i, out var rc).IsOk) map.Refcounts.Add((s, rc));
                continue;
            }
            var v = DiskRmap.VerifyRead(image.AsSpan((int)s.Offset, s.Size), i, out var r);
            if (v.Verdict == Verdict.Empty) map.EmptyRmapSlots.Add(i);
            else if (v.IsOk) map.Rmaps.Add((s, r));
        }

        var header = DiskJournalHeader.ReadNewest(image.AsSpan((int)g.JournalHeaderOffset, DiskJournalHeader.Size * 2), g.LogBytes, out _);
        if (header is { } h)
        {
            map.JournalTailOffset = h.TailOffset;
            var log = image.AsSpan((int)g.LogOffset, (int)g.LogBytes);
            ulong seq = h.TailSeq;
            long off = h.TailOffset;
            while (true)
            {
                ReadOnlySpan<byte> body = default;
                int n = 0, len = 0;
                bool found = off < log.Length && LogTransaction.TryReadCommitted(log[(int)off..], seq, sb.JournalSalt, out body, out n, out len);
                if (!found)
                {
                    if (off == 0 || !LogTransaction.TryReadCommitted(log, seq, sb.JournalSalt, out body, out n, out len)) break;
                    off = 0;
                }
                map.Journal.Add(new LogTx(g.LogOffset + off, len, body.Length, n));
                seq++;
                off += len;
                if (off >= g.LogBytes) off = 0;
                if (map.Journal.Count > 100_000) break;
            }
        }
        return map;
    }

    /// <summary>How an rmap-table slot verifies: as a reference-count record when it has that magic, else as an owner record.</summary>
    public static VerifyResult VerifyRmapSlot(ReadOnlySpan<byte> bytes, long index) =>
        DiskRefcount.IsRefcountSlot(bytes) ? DiskRefcount.VerifyRead(bytes, index, out _) : DiskRmap.VerifyRead(bytes, index, out _);

    public static long ReadI64(byte[] image, long offset) => BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan((int)offset));
}
