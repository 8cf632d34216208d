using PmemFs.Engine.Alloc;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Log;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    /// <summary>
    /// Opens the file system on <paramref name="media"/>: verifies the superblock (falling back
    /// to the copy), replays the journal, loads and verifies every table, and finishes work a
    /// crash interrupted (orphans, pending truncates).
    /// </summary>
    /// <exception cref="ImageFormatException">the image is foreign or damaged; nothing was written.</exception>
    public static FileSystem Mount(IMedia media, FileSystemOptions? options = null) => new(media, options ?? new FileSystemOptions());

    private FileSystem(IMedia media, FileSystemOptions options)
    {
        Media = media;
        Options = options;
        Leases = new LeaseTable(this, options.Time, options.LeaseBreakTime);
        Mapper = new Mapping.Mapper(this);
        Rmap = new ReverseMap.RmapTable(this);
        Poison = new Poison.PoisonWatch(this);
        // Metadata is read through a view that never loads a known bad line (poisoned bytes read as zeros).
        var opened = ImageReader.ReadSuperblock(PoisonMaskedMedia.Over(media), options.Name);
        Superblock = opened.Superblock;
        var g = Geometry;
        if (options.ReadOnly && opened.UsedCopy != SuperblockCopy.Primary)
            throw new ImageFormatException($"{options.Name}: primary superblock is damaged ({opened.PrimaryProblem}); run pmemfs fsck --repair");

        // Replay first (read-only mounts need a clean journal: replay would be a write).
        if (options.ReadOnly)
        {
            if (JournalReplay.Inspect(PoisonMaskedMedia.Over(media), Superblock) != JournalState.Clean) throw new ImageFormatException($"{options.Name}: the journal holds committed transactions; mount read-write once (or run fsck) to replay them");
        }
        ClearPoisonOfAnIdleJournal(media, options);
        var replay = options.ReadOnly
            ? new ReplayResult(0, 0, 0, 0, null)
            : JournalReplay.Recover(media, Superblock);
        if (replay.Problem is not null)
            throw new ImageFormatException($"{options.Name}: {replay.Problem}; run pmemfs fsck --repair");
        // Only now is it safe to fix the primary: the image is known to be ours and consistent.
        if (!options.ReadOnly && opened.UsedCopy == SuperblockCopy.Secondary)
            ImageReader.WriteSuperblock(media, Superblock, SuperblockCopy.Primary);

        InodeSlots = new SlotAllocator("inode", g.InodeCount);
        DirentSlots = new SlotAllocator("dirent", g.DirentCount);
        ExtentSlots = new SlotAllocator("extent", g.ExtentCount);
        RmapSlots = new SlotAllocator("rmap", g.RmapCount);
        _inodes = new Inode?[g.InodeCount];
        Log = options.ReadOnly ? null! : new MetadataLog(media, Superblock, replay);

        LoadTables();
        int orphans = 0, trims = 0;
        if (!options.ReadOnly) (orphans, trims) = FinishInterruptedWork();
        Poison.Attach();
        UnsafeShutdown = Engine.Health.UnsafeShutdownCheck.Run(this);
        Report = new MountReport(opened.UsedCopy, opened.PrimaryProblem ?? opened.SecondaryProblem, replay.Replayed, orphans, trims);
    }

    private ImageFormatException Damaged(string problem) =>
        new($"{Options.Name}: {problem}; run pmemfs fsck --repair");

    private void LoadTables()
    {
        var g = Geometry;
        var media = PoisonMaskedMedia.Over(Media);

        for (long slot = 0; slot < g.InodeCount; slot++)
        {
            var v = DiskInode.VerifyRead(media.Read(g.InodeOffset(slot), DiskInode.Size), Geometry.InoOfSlot(slot), out var rec);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk) throw Damaged(v.Problem!);
            if (rec.IsFree) continue;
            InodeSlots.MarkUsed(slot);
            _inodes[slot] = new Inode(rec) { Directory = rec.FileType == FileTypes.Directory ? new DirectoryIndex() : null };
        }
        var root = _inodes[0];
        if (root is null || !root.IsDirectory) throw Damaged("root inode is missing or not a directory");
        root.Parent = FormatConstants.RootIno;

        var names = new int[g.InodeCount]; // directory entries naming each inode, by slot
        for (long slot = 0; slot < g.DirentCount; slot++)
        {
            var v = DiskDirent.VerifyRead(media.Read(g.DirentOffset(slot), DiskDirent.Size), slot, out var d);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk) throw Damaged(v.Problem!);
            var parent = InodeAt(d.Parent);
            var child = InodeAt(d.Child);
            if (parent?.Directory is null) throw Damaged($"dirent slot {slot} lives in inode {d.Parent}, which is not a directory");
            if (child is null) throw Damaged($"dirent slot {slot} points at free inode {d.Child}");
            if (d.Type != FileTypes.ToDirentType(child.Rec.Mode)) throw Damaged($"dirent slot {slot} has the wrong type for inode {d.Child}");
            if (parent.Directory.Find(d.Name) is not null) throw Damaged($"directory {d.Parent} holds one name twice");
            if (child.IsDirectory)
            {
                if (child.Parent != 0) throw Damaged($"directory {d.Child} has two parents");
                child.Parent = d.Parent;
            }
            DirentSlots.MarkUsed(slot);
            parent.Directory.Add(new DirEntry(d.Name, d.Child, d.Type, slot));
            names[child.Slot]++;
        }

        // Link counts the engine acts on: a named inode with link count 0 would be freed below as
        // an orphan, and one with fewer links than names would be freed by an unlink while
        // another entry still names it.
        if (root.Rec.Nlink == 0) throw Damaged("the root directory has link count 0");
        foreach (var inode in _inodes)
        {
            if (inode is null || names[inode.Slot] == 0) continue;
            if (inode.IsDirectory ? inode.Rec.Nlink == 0 : inode.Rec.Nlink < names[inode.Slot])
                throw Damaged($"inode {inode.Ino} has link count {inode.Rec.Nlink} but {names[inode.Slot]} directory entr{(names[inode.Slot] == 1 ? "y names" : "ies name")} it");
        }

        // Every named directory must hang from the root: a cycle of directories naming each other
        // has parents but is cut off, and walks up the parent chain (rename) would never end.
        var rooted = new HashSet<ulong> { FormatConstants.RootIno };
        var path = new HashSet<ulong>();
        foreach (var inode in _inodes)
        {
            if (inode is null || !inode.IsDirectory || inode.Parent == 0) continue;
            path.Clear();
            for (var cur = inode; !rooted.Contains(cur.Ino); cur = _inodes[Geometry.SlotOfIno(cur.Parent)]!)
            {
                if (cur.Parent == 0) throw Damaged($"directory {cur.Ino} holds entries but is not in any directory");
                if (!path.Add(cur.Ino)) throw Damaged($"directory {cur.Ino} is on a directory cycle cut off from the root");
            }
            rooted.UnionWith(path);
        }

        // Rmap first: every data extent must have its twin there.
        var dataRmap = new Dictionary<(ulong Ino, long FileBlock), (long Slot, RmapRecord Rec)>();
        var metadataAreas = g.MetadataAreas().ToHashSet();
        var refcounts = new List<RefcountRecord>();
        for (long slot = 0; slot < g.RmapCount; slot++)
        {
            var bytes = media.Read(g.RmapOffset(slot), DiskRmap.Size);
            if (DiskRefcount.IsRefcountSlot(bytes))
            {
                var rv = DiskRefcount.VerifyRead(bytes, slot, out var rc);
                if (!rv.IsOk) throw Damaged(rv.Problem!);
                if (Superblock.Version < 2) throw Damaged($"refcount slot {slot} in a version {Superblock.Version} image, which has no shared extents");
                if (!g.IsDataBlockRange(rc.PhysBlock, rc.BlockCount)) throw Damaged($"refcount slot {slot} counts blocks outside the data area");
                RmapSlots.MarkUsed(slot);
                Sharing.AddLoaded(rc, slot);
                refcounts.Add(rc);
                continue;
            }
            var v = DiskRmap.VerifyRead(bytes, slot, out var r);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk) throw Damaged(v.Problem!);
            RmapSlots.MarkUsed(slot);
            if (r.Kind == RmapOwnerKind.InodeData) dataRmap[(r.Owner, r.FileBlock)] = (slot, r);
            else if (r.Kind == RmapOwnerKind.InodeXattr)
            {
                var owner = InodeAt(r.Owner) ?? throw Damaged($"rmap slot {slot} names free inode {r.Owner}");
                if (owner.Rec.XattrBlock != r.PhysBlock || owner.Rec.XattrBlocks != r.BlockCount) throw Damaged($"rmap slot {slot} disagrees with inode {r.Owner}'s xattr blob");
                owner.XattrRmapSlot = slot;
            }
            else if (!metadataAreas.Contains((r.Kind, r.PhysBlock, r.BlockCount)))
                throw Damaged($"rmap slot {slot} claims blocks {r.PhysBlock} (+{r.BlockCount}) for metadata that is not there");
        }
        for (long slot = 0; slot < g.ExtentCount; slot++)
        {
            var v = DiskExtent.VerifyRead(media.Read(g.ExtentOffset(slot), DiskExtent.Size), slot, out var e);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk) throw Damaged(v.Problem!);
            var owner = InodeAt(e.Ino) ?? throw Damaged($"extent slot {slot} belongs to free inode {e.Ino}");
            if (!owner.IsRegular && owner.Rec.FileType != FileTypes.Symlink) throw Damaged($"extent slot {slot} belongs to inode {e.Ino}, which holds no data");
            if (!g.IsDataBlockRange(e.PhysBlock, e.BlockCount)) throw Damaged($"extent slot {slot} maps blocks outside the data area");
            if (!dataRmap.Remove((e.Ino, e.FileBlock), out var twin) || twin.Rec.PhysBlock != e.PhysBlock || twin.Rec.BlockCount != e.BlockCount)
                throw Damaged($"extent slot {slot} (inode {e.Ino}, file block {e.FileBlock}) has no matching rmap record");
            ExtentSlots.MarkUsed(slot);
            owner.Extents.AddLoaded(new Extent(e.FileBlock, e.PhysBlock, e.BlockCount, e.State, slot, twin.Slot));
        }
        if (dataRmap.Count > 0)
        {
            var (key, val) = dataRmap.First();
            throw Damaged($"rmap slot {val.Slot} names inode {key.Ino} file block {key.FileBlock}, which has no extent");
        }

        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            if (inode.Extents.SortAfterLoad() is { } overlap) throw Damaged($"inode {inode.Ino}: {overlap}");
            // A truncate records the first block past the new EOF; finishing one that points inside the file would drop data.
            if (inode.Rec.PendingTrim != 0 && inode.Rec.PendingTrim - 1 < (inode.Rec.Size + FormatConstants.BlockSize - 1) / FormatConstants.BlockSize)
                throw Damaged($"inode {inode.Ino}: pending trim from file block {inode.Rec.PendingTrim - 1} lies inside the file (size {inode.Rec.Size})");
            if (inode.IsDirectory && inode.Parent == 0 && inode.Rec.Nlink != 0) throw Damaged($"directory {inode.Ino} is not in any directory");
            // A removed directory is empty (rmdir): freeing one that holds entries would leave them dangling.
            if (inode.IsDirectory && inode.Parent == 0 && inode.Directory!.Count > 0) throw Damaged($"removed directory {inode.Ino} still holds entries");
            if (inode.Rec.XattrBlock != 0)
            {
                if (inode.XattrRmapSlot < 0) throw Damaged($"inode {inode.Ino}'s xattr blob has no rmap record");
                if (!g.IsDataBlockRange(inode.Rec.XattrBlock, inode.Rec.XattrBlocks)) throw Damaged($"inode {inode.Ino}'s xattr blob lies outside the data area");
                var blob = media.Read(Geometry.BlockOffset(inode.Rec.XattrBlock), (int)inode.Rec.XattrLength);
                var v = DiskXattrBlob.VerifyRead(blob, inode.Ino, out var entries);
                if (!v.IsOk) throw Damaged(v.Problem!);
                inode.Xattrs = entries;
            }
        }

        // A block owned by several data extents (of two files, or twice in one) must be counted by
        // reference-count records, exactly; an xattr blob is never shared. Otherwise freeing one
        // owner's blocks would hand the other's out again (SharedBlocks: the rule fsck uses too).
        foreach (var (a, b) in SharedBlocks.Overlapping(refcounts).Take(1))
            throw Damaged($"reference-count records for blocks {a.PhysBlock} (+{a.BlockCount}) and {b.PhysBlock} (+{b.BlockCount}) overlap");
        var owners = new List<SharedBlocks.Owner>();
        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            foreach (var e in inode.Extents.All) owners.Add(new SharedBlocks.Owner(e.PhysBlock, e.Count, inode.Ino, e.FileBlock, IsData: true));
            if (inode.Rec.XattrBlock != 0) owners.Add(new SharedBlocks.Owner(inode.Rec.XattrBlock, inode.Rec.XattrBlocks, inode.Ino, 0, IsData: false));
        }
        foreach (var mismatch in SharedBlocks.Compare(owners, refcounts).Take(1))
            throw Damaged(mismatch.Describe());

        // Free space: bitmap runs inside the data area. Blocks used by the maps must be marked in use.
        FreeSpaceBitmap.ForEachRun(media, g, set: false, (start, count) =>
        {
            long s = Math.Max(start, g.DataStart), e = Math.Min(start + count, g.DataEnd);
            if (s < e) Blocks.AddFree(s, e - s);
        });
        // A block the maps use but the bitmap calls free would be handed to a second owner.
        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            foreach (var e in inode.Extents.All)
                if (Blocks.OverlapsFree(e.PhysBlock, e.Count)) throw Damaged($"inode {inode.Ino} uses blocks {e.PhysBlock}..{e.PhysEnd - 1} that the bitmap marks free");
            if (inode.Rec.XattrBlock != 0 && Blocks.OverlapsFree(inode.Rec.XattrBlock, inode.Rec.XattrBlocks))
                throw Damaged($"inode {inode.Ino}'s xattr blob uses blocks the bitmap marks free");
        }
    }

    /// <summary>Frees inodes whose last link went away and finishes interrupted truncates.</summary>
    private (int Orphans, int Trims) FinishInterruptedWork()
    {
        int orphans = 0, trims = 0;
        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            if (inode.Rec.Nlink == 0)
            {
                inode.Lock.EnterWriteLock();
                try { FreeInodeLocked(inode); }
                finally { inode.Lock.ExitWriteLock(); }
                orphans++;
            }
            else if (inode.Rec.PendingTrim != 0)
            {
                inode.Lock.EnterWriteLock();
                try { TrimLocked(inode, inode.Rec.PendingTrim - 1); }
                finally { inode.Lock.ExitWriteLock(); }
                trims++;
            }
        }
        return (orphans, trims);
    }
}
