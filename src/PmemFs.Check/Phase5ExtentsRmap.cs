using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 5: the forward maps (extents, xattr blobs) against the reverse map.
/// <list type="bullet">
/// <item>every record verifies; extents and data rmap records lie in the data area;</item>
/// <item>only regular files and symlinks have extents; one inode's extents never overlap in file space;</item>
/// <item>each InodeData rmap record has exactly one twin extent (ino, file block, phys, count) and vice versa;</item>
/// <item>InodeXattr records match their inode's blob, and every blob has one;</item>
/// <item>metadata records are exactly <see cref="Geometry.MetadataAreas"/>; no block is owned twice, except by data extents (shared);</item>
/// <item>reference-count records (rmap-table slots with the "RC" magic, format version 2) verify, lie in the data area,
/// never overlap, and agree with the forward maps (<see cref="SharedBlocks"/>);</item>
/// <item>written blocks beyond EOF only under a pending trim; a symlink's target is in written blocks;</item>
/// <item>xattr blobs verify, and the POSIX ACLs in them are valid and agree with the mode (<see cref="AclInvariants"/>);</item>
/// <item>the per-inode flag rules that depend on type and map (<see cref="FlagInvariants"/>).</item>
/// </list>
/// Leaves in <see cref="FsckContext.Claims"/> every physical range somebody claims, for phase 6.
/// </summary>
internal static class Phase5ExtentsRmap
{
    public static void Run(FsckContext ctx)
    {
        ReadTables(ctx);
        var twinless = MatchTwins(ctx);
        var files = CheckExtentOwners(ctx);
        var blobOwned = CheckXattrRecords(ctx);
        CheckMetadataRecords(ctx);
        CheckPhysicalOverlap(ctx);
        var shared = CheckSharedBlocks(ctx);
        foreach (var (ino, extents) in files) CheckFileMap(ctx, ino, extents);
        CheckXattrBlobs(ctx);
        FlagInvariants.Check(ctx, files, shared);
        CollectClaims(ctx, twinless, blobOwned);
    }

    private static void ReadTables(FsckContext ctx)
    {
        var g = ctx.Geometry;
        ctx.Report("extents", 0, g.ExtentCount);
        for (long slot = 0; slot < g.ExtentCount; slot++)
        {
            var v = DiskExtent.VerifyRead(ctx.Media.Read(g.ExtentOffset(slot), DiskExtent.Size), slot, out var e);
            if (v.IsOk) ctx.Extents.Add((slot, e));
            else if (v.Verdict != Verdict.Empty) ctx.Problem($"extent slot {slot}", Describe.Verdict(v, $"extent slot {slot}"));
            ctx.Tick("extents", slot + 1, g.ExtentCount);
        }
        ctx.Report("rmap", 0, g.RmapCount);
        for (long slot = 0; slot < g.RmapCount; slot++)
        {
            var bytes = ctx.Media.Read(g.RmapOffset(slot), DiskRmap.Size);
            if (DiskRefcount.IsRefcountSlot(bytes))
            {
                ReadRefcount(ctx, slot, bytes);
                ctx.Tick("rmap", slot + 1, g.RmapCount);
                continue;
            }
            var v = DiskRmap.VerifyRead(bytes, slot, out var r);
            if (v.IsOk)
            {
                ctx.Rmaps.Add((slot, r));
                if (!r.IsMetadata && !g.IsDataBlockRange(r.PhysBlock, r.BlockCount))
                    ctx.Problem($"rmap slot {slot}", $"{Describe.Owner(r.Kind, r.Owner)} owns {Describe.Range(r.PhysBlock, r.BlockCount)}, outside the data area ({Describe.Blocks(g.DataStart, g.DataBlocks)})");
            }
            else if (v.Verdict != Verdict.Empty) ctx.Problem($"rmap slot {slot}", Describe.Verdict(v, $"rmap slot {slot}"));
            ctx.Tick("rmap", slot + 1, g.RmapCount);
        }
    }

    /// <summary>A reference-count record in an rmap-table slot: it verifies, lies in the data area, and the format has them (version 2).</summary>
    private static void ReadRefcount(FsckContext ctx, long slot, ReadOnlySpan<byte> bytes)
    {
        var g = ctx.Geometry;
        string where = $"rmap slot {slot}";
        var v = DiskRefcount.VerifyRead(bytes, slot, out var rc);
        if (!v.IsOk)
        {
            ctx.Problem(where, v.Verdict == Verdict.BadChecksum ? "reference-count record: checksum mismatch" : Describe.Verdict(v, $"refcount slot {slot}"));
            return;
        }
        if (ctx.Superblock.Version < 2)
            ctx.Problem(where, $"reference-count record ({Describe.Refcount(rc)}) in a format version {ctx.Superblock.Version} image (version 1 has no shared blocks)");
        if (!g.IsDataBlockRange(rc.PhysBlock, rc.BlockCount))
        {
            ctx.Problem(where, $"reference count {rc.Refs} for {Describe.Range(rc.PhysBlock, rc.BlockCount)}, outside the data area ({Describe.Blocks(g.DataStart, g.DataBlocks)})");
            return;
        }
        ctx.Refcounts.Add((slot, rc));
    }

    /// <summary>
    /// Pairs extents with InodeData rmap records (exact match on ino, file block, phys, count;
    /// hashed, so a table full of look-alike records still costs linear time); returns the
    /// indices (into Extents) of extents without one.
    /// </summary>
    private static List<int> MatchTwins(FsckContext ctx)
    {
        var exact = new Dictionary<(ulong Ino, long FileBlock, long Phys, long Count), Queue<int>>();
        var byPlace = new Dictionary<(ulong Ino, long FileBlock), int>();
        for (int i = 0; i < ctx.Rmaps.Count; i++)
        {
            var r = ctx.Rmaps[i].Rec;
            if (r.Kind != RmapOwnerKind.InodeData) continue;
            var key = (r.Owner, r.FileBlock, r.PhysBlock, r.BlockCount);
            if (!exact.TryGetValue(key, out var q)) exact[key] = q = new Queue<int>(1);
            q.Enqueue(i);
            byPlace.TryAdd((r.Owner, r.FileBlock), i);
        }

        var consumed = new bool[ctx.Rmaps.Count];
        var twinless = new List<int>();
        for (int i = 0; i < ctx.Extents.Count; i++)
        {
            var (slot, e) = ctx.Extents[i];
            if (exact.TryGetValue((e.Ino, e.FileBlock, e.PhysBlock, e.BlockCount), out var q) && q.Count > 0)
            {
                consumed[q.Dequeue()] = true;
                continue;
            }
            twinless.Add(i);
            string also = "";
            if (byPlace.TryGetValue((e.Ino, e.FileBlock), out int near))
            {
                var n = ctx.Rmaps[near];
                also = $" (rmap slot {n.Slot} names {Describe.Range(n.Rec.PhysBlock, n.Rec.BlockCount)} for it)";
            }
            ctx.Problem($"extent slot {slot}", $"inode {e.Ino} file block {e.FileBlock} -> {Describe.Range(e.PhysBlock, e.BlockCount)} has no matching rmap record{also}");
        }
        for (int i = 0; i < ctx.Rmaps.Count; i++)
        {
            var (slot, r) = ctx.Rmaps[i];
            if (r.Kind == RmapOwnerKind.InodeData && !consumed[i])
                ctx.Problem($"rmap slot {slot}", $"names inode {r.Owner} file block {r.FileBlock} ({Describe.Range(r.PhysBlock, r.BlockCount)}), which has no extent");
        }
        return twinless;
    }

    /// <summary>Owner checks per extent; returns the extents of live files and symlinks, by inode.</summary>
    private static Dictionary<ulong, List<(long Slot, ExtentRecord Rec)>> CheckExtentOwners(FsckContext ctx)
    {
        var g = ctx.Geometry;
        var files = new Dictionary<ulong, List<(long, ExtentRecord)>>();
        foreach (var (slot, e) in ctx.Extents)
        {
            string where = $"extent slot {slot}";
            if (!g.IsDataBlockRange(e.PhysBlock, e.BlockCount))
                ctx.Problem(where, $"inode {e.Ino} file block {e.FileBlock} maps {Describe.Range(e.PhysBlock, e.BlockCount)}, outside the data area ({Describe.Blocks(g.DataStart, g.DataBlocks)})");
            if (!g.IsValidIno(e.Ino)) { ctx.Problem(where, $"belongs to inode {e.Ino}, which does not exist"); continue; }
            if (ctx.DamagedInodes.Contains(e.Ino)) continue;
            if (!ctx.Inodes.TryGetValue(e.Ino, out var owner)) { ctx.Problem(where, $"belongs to free inode {e.Ino}"); continue; }
            if (owner.FileType is not (FileTypes.Regular or FileTypes.Symlink))
            {
                ctx.Problem(where, $"belongs to inode {e.Ino}, a {Describe.FileType(owner.Mode)}, which cannot have data blocks");
                continue;
            }
            if (!files.TryGetValue(e.Ino, out var list)) files[e.Ino] = list = [];
            list.Add((slot, e));
        }
        return files;
    }

    /// <summary>One file's map: no overlap in file space, no written block past EOF, a symlink's target present.</summary>
    private static void CheckFileMap(FsckContext ctx, ulong ino, List<(long Slot, ExtentRecord Rec)> extents)
    {
        var rec = ctx.Inodes[ino];
        string where = $"inode {ino}";
        extents.Sort((a, b) => a.Rec.FileBlock.CompareTo(b.Rec.FileBlock));
        long eofBlock = FileMap.EofBlock(rec);
        long maxEnd = 0, maxSlot = -1;
        long covered = 0; // written blocks from file block 0 on, without a gap
        foreach (var (slot, e) in extents)
        {
            if (maxSlot >= 0 && e.FileBlock < maxEnd)
            {
                long end = Math.Min(maxEnd, e.FileEnd);
                ctx.Problem(where, $"extent slots {maxSlot} and {slot} overlap at file blocks {e.FileBlock}..{end - 1}");
            }
            if (e.FileEnd > maxEnd) (maxEnd, maxSlot) = (e.FileEnd, slot);

            long beyond = FileMap.WrittenBeyondEof(rec, e);
            if (beyond >= 0)
                ctx.Problem(where, $"extent slot {slot} has written file blocks {beyond}..{e.FileEnd - 1} beyond EOF (size {rec.Size}, {eofBlock} block(s))");
            if (e.State == ExtentState.Written && e.FileBlock <= covered) covered = Math.Max(covered, e.FileEnd);
        }
        if (rec.FileType == FileTypes.Symlink && covered < eofBlock)
            ctx.Problem(where, $"symlink target of {rec.Size} bytes is not all in written blocks (written up to file block {covered})");
    }

    /// <summary>InodeXattr rmap records against their inodes; returns the inodes whose blob has its record.</summary>
    private static HashSet<ulong> CheckXattrRecords(FsckContext ctx)
    {
        var g = ctx.Geometry;
        var owned = new Dictionary<ulong, long>();
        foreach (var (slot, r) in ctx.Rmaps)
        {
            if (r.Kind != RmapOwnerKind.InodeXattr) continue;
            string where = $"rmap slot {slot}";
            if (!g.IsValidIno(r.Owner)) { ctx.Problem(where, $"xattr blob of inode {r.Owner}, which does not exist"); continue; }
            if (ctx.DamagedInodes.Contains(r.Owner)) { owned.TryAdd(r.Owner, slot); continue; }
            if (!ctx.Inodes.TryGetValue(r.Owner, out var rec)) { ctx.Problem(where, $"xattr blob of free inode {r.Owner}"); continue; }
            if (rec.XattrBlock != r.PhysBlock || rec.XattrBlocks != r.BlockCount || r.FileBlock != 0)
            {
                string says = rec.XattrBlock == 0 ? "has no xattr blob" : $"says its blob is {Describe.Range(rec.XattrBlock, rec.XattrBlocks)}";
                ctx.Problem(where, $"names {Describe.Range(r.PhysBlock, r.BlockCount)} as the xattr blob of inode {r.Owner}, which {says}");
                continue;
            }
            if (!owned.TryAdd(r.Owner, slot))
                ctx.Problem(where, $"second xattr record for inode {r.Owner} (also rmap slot {owned[r.Owner]})");
        }
        foreach (var (ino, rec) in ctx.Inodes)
            if (rec.XattrBlock != 0 && !owned.ContainsKey(ino))
                ctx.Problem($"inode {ino}", $"xattr blob ({Describe.Range(rec.XattrBlock, rec.XattrBlocks)}) has no rmap record");
        return [.. owned.Keys];
    }

    /// <summary>The metadata records are exactly the metadata areas of the geometry, no more, no less.</summary>
    private static void CheckMetadataRecords(FsckContext ctx)
    {
        var expected = ctx.Geometry.MetadataAreas().ToList();
        var matched = new bool[expected.Count];
        foreach (var (slot, r) in ctx.Rmaps)
        {
            if (!r.IsMetadata) continue;
            int i = expected.FindIndex(a => a.Kind == r.Kind && a.Start == r.PhysBlock && a.Blocks == r.BlockCount);
            while (i >= 0 && matched[i])
            {
                int next = expected.FindIndex(i + 1, a => a.Kind == r.Kind && a.Start == r.PhysBlock && a.Blocks == r.BlockCount);
                i = next;
            }
            if (i < 0)
            {
                ctx.Problem($"rmap slot {slot}", $"claims {Describe.Range(r.PhysBlock, r.BlockCount)} for {Describe.Owner(r.Kind, 0)}, which is not where the superblock puts it");
                continue;
            }
            matched[i] = true;
        }
        for (int i = 0; i < expected.Count; i++)
            if (!matched[i])
                ctx.Problem("rmap", $"no record owns {Describe.Owner(expected[i].Kind, 0)} ({Describe.Blocks(expected[i].Start, expected[i].Blocks)})");
    }

    /// <summary>
    /// Sweeps the rmap by physical block: nothing may be owned twice, except by data extents
    /// (shared blocks: whether their reference counts agree is <see cref="CheckSharedBlocks"/>'s
    /// question). A metadata area or an xattr blob never shares a block with anything.
    /// </summary>
    private static void CheckPhysicalOverlap(FsckContext ctx)
    {
        long blocks = ctx.Geometry.BlockCount;
        var inRegion = ctx.Rmaps.Where(x => x.Rec.PhysBlock <= blocks - x.Rec.BlockCount).ToList();
        // By block, then slot: a stable order, so the same damage is reported the same way every time.
        inRegion.Sort((a, b) => a.Rec.PhysBlock != b.Rec.PhysBlock ? a.Rec.PhysBlock.CompareTo(b.Rec.PhysBlock) : a.Slot.CompareTo(b.Slot));
        long maxEnd = -1;
        (long Slot, RmapRecord Rec) holder = default;
        foreach (var x in inRegion)
        {
            var r = x.Rec;
            if (r.PhysBlock < maxEnd && !(r.Kind == RmapOwnerKind.InodeData && holder.Rec.Kind == RmapOwnerKind.InodeData))
            {
                long end = Math.Min(maxEnd, r.PhysEnd);
                ctx.Problem($"rmap slot {x.Slot}", $"{Describe.Blocks(r.PhysBlock, end - r.PhysBlock)} owned twice: by {Describe.Owner(r.Kind, r.Owner)} here and by {Describe.Owner(holder.Rec.Kind, holder.Rec.Owner)} in rmap slot {holder.Slot}");
            }
            if (r.PhysEnd > maxEnd) (maxEnd, holder) = (r.PhysEnd, x);
        }
    }

    /// <summary>
    /// The reference counts against the forward maps (<see cref="SharedBlocks"/>, the rule mount
    /// keeps too): every block mapped by n >= 2 data extents is covered by records totalling n,
    /// no other block is covered, and records never overlap. Returns the shared physical ranges
    /// (sorted, disjoint: what records cover or two extents map), for the flag rules.
    /// </summary>
    private static List<(long Start, long End)> CheckSharedBlocks(FsckContext ctx)
    {
        var g = ctx.Geometry;
        var records = ctx.Refcounts.Select(x => x.Rec).ToList();
        // Records never overlap (the sweep of SharedBlocks.Overlapping, with the slots kept for the message).
        var sorted = ctx.Refcounts.OrderBy(x => x.Rec.PhysBlock).ThenBy(x => x.Slot).ToList();
        for (int i = 1, holder = 0; i < sorted.Count; i++)
        {
            var (a, b) = (sorted[holder], sorted[i]);
            if (b.Rec.PhysBlock < a.Rec.PhysEnd)
            {
                long e = Math.Min(a.Rec.PhysEnd, b.Rec.PhysEnd);
                ctx.Problem($"rmap slot {b.Slot}", $"reference-count record ({Describe.Refcount(b.Rec)}) overlaps the one in rmap slot {a.Slot} ({Describe.Refcount(a.Rec)}) at {Describe.Blocks(b.Rec.PhysBlock, e - b.Rec.PhysBlock)}");
            }
            if (b.Rec.PhysEnd > a.Rec.PhysEnd) holder = i;
        }

        // Owners from the forward maps: every extent that verified and lies in the data area, whoever it belongs to.
        var owners = ctx.Extents.Where(x => g.IsDataBlockRange(x.Rec.PhysBlock, x.Rec.BlockCount))
            .Select(x => new SharedBlocks.Owner(x.Rec.PhysBlock, x.Rec.BlockCount, x.Rec.Ino, x.Rec.FileBlock, IsData: true)).ToList();
        foreach (var m in SharedBlocks.Compare(owners, records))
            ctx.Problem("refcount", m.Describe());

        var shared = new List<(long Start, long End)>();
        foreach (var r in records.Concat(SharedBlocks.Expected(owners)).OrderBy(r => r.PhysBlock))
        {
            if (shared.Count > 0 && r.PhysBlock <= shared[^1].End) shared[^1] = (shared[^1].Start, Math.Max(shared[^1].End, r.PhysEnd));
            else shared.Add((r.PhysBlock, r.PhysEnd));
        }
        ctx.Verbose($"refcount: {records.Count} reference-count record(s), {shared.Sum(x => x.End - x.Start)} shared block(s)");
        return shared;
    }

    private static void CheckXattrBlobs(FsckContext ctx)
    {
        var g = ctx.Geometry;
        foreach (var (ino, rec) in ctx.Inodes)
        {
            if (rec.XattrBlock == 0) continue;
            string where = $"inode {ino}";
            if (!g.IsDataBlockRange(rec.XattrBlock, rec.XattrBlocks))
            {
                ctx.Problem(where, $"xattr blob ({Describe.Range(rec.XattrBlock, rec.XattrBlocks)}) lies outside the data area");
                continue;
            }
            var blob = ctx.Media.Read(Geometry.BlockOffset(rec.XattrBlock), (int)rec.XattrLength);
            var v = DiskXattrBlob.VerifyRead(blob, ino, out var xattrs);
            if (v.IsOk)
            {
                AclInvariants.Check(ctx, ino, rec, xattrs);
                continue;
            }
            ctx.Problem(where, v.Verdict == Verdict.BadChecksum ? "xattr blob: checksum mismatch" : Describe.Verdict(v, where));
        }
    }

    /// <summary>Every range somebody claims: the metadata areas, the data rmap records, and forward maps without an rmap record.</summary>
    private static void CollectClaims(FsckContext ctx, List<int> twinless, HashSet<ulong> blobOwned)
    {
        var g = ctx.Geometry;
        foreach (var (kind, start, blocks) in g.MetadataAreas()) ctx.Claims.Add(new Claim(start, blocks, kind, 0));
        foreach (var (_, r) in ctx.Rmaps)
            if (!r.IsMetadata && g.IsDataBlockRange(r.PhysBlock, r.BlockCount)) ctx.Claims.Add(new Claim(r.PhysBlock, r.BlockCount, r.Kind, r.Owner));
        foreach (int i in twinless)
        {
            var e = ctx.Extents[i].Rec;
            if (g.IsDataBlockRange(e.PhysBlock, e.BlockCount)) ctx.Claims.Add(new Claim(e.PhysBlock, e.BlockCount, RmapOwnerKind.InodeData, e.Ino));
        }
        foreach (var (ino, rec) in ctx.Inodes)
            if (rec.XattrBlock != 0 && !blobOwned.Contains(ino) && g.IsDataBlockRange(rec.XattrBlock, rec.XattrBlocks))
                ctx.Claims.Add(new Claim(rec.XattrBlock, rec.XattrBlocks, RmapOwnerKind.InodeXattr, ino));
    }
}
