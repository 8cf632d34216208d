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
    /// to the copy), replays the journal (read-only: into a private view), loads and verifies
    /// every table, confining damage to what it holds, and finishes work a crash interrupted
    /// (orphans, pending truncates).
    /// </summary>
    /// <exception cref="ImageFormatException">the image is foreign, both superblocks are damaged, or
    /// (read-write only) the journal cannot be replayed; nothing was written.</exception>
    public static FileSystem Mount(IMedia media, FileSystemOptions? options = null) => new(media, options ?? new FileSystemOptions());

    private FileSystem(IMedia media, FileSystemOptions options)
    {
        Options = options;
        Leases = new LeaseTable(this, options.Time, options.LeaseBreakTime);
        Mapper = new Mapping.Mapper(this);
        Rmap = new ReverseMap.RmapTable(this);
        Poison = new Poison.PoisonWatch(this);
        // Metadata is read through a view that never loads a known bad line (poisoned bytes read as zeros).
        var opened = ImageReader.ReadSuperblock(PoisonMaskedMedia.Over(media), options.Name);
        Superblock = opened.Superblock;
        var g = Geometry;

        ReplayResult replay;
        if (options.ReadOnly)
        {
            // Nothing is written: what recovery would change is replayed into a private view (salvage).
            (Media, replay) = Engine.Health.ReadOnlySalvage.Open(media, opened, Health, options.Name);
        }
        else
        {
            Media = media;
            ClearPoisonOfAnIdleJournal(media, options);
            replay = JournalReplay.Recover(media, Superblock);
            if (replay.Problem is not null)
                throw new ImageFormatException($"{options.Name}: {replay.Problem}; run pmemfs fsck --repair (a read-only mount, -o ro, salvages what can be read)");
            // Only now is it safe to fix the primary: the image is known to be ours and consistent.
            if (opened.UsedCopy == SuperblockCopy.Secondary)
                ImageReader.WriteSuperblock(media, Superblock, SuperblockCopy.Primary);
            // And the secondary from a good primary: a superblock change (a label, the unsafe
            // shutdown count) writes the secondary first, so a crash can leave it new, torn or
            // behind; the primary decides. A poisoned copy is left to the poison watch.
            else if (opened.SecondaryProblem is not null && !OverlapsBadRange(media, Geometry.SecondarySuperblock * FormatConstants.BlockSize, DiskSuperblock.Size))
                ImageReader.WriteSuperblock(media, Superblock, SuperblockCopy.Secondary);
        }

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

    private static bool OverlapsBadRange(IMedia media, long offset, long length) => media.BadRanges.Any(r => r.Overlaps(offset, length));

    /// <summary>
    /// Loads and verifies every table. Damage costs only what it holds (docs/health.md, "Damaged
    /// metadata"): a damaged slot is quarantined (never allocated again, reported); a record that
    /// fails its verifier or contradicts the rest makes the files it belongs to sick (EUCLEAN,
    /// their blocks never handed to anyone else) while every other file works; free space the
    /// maps use is withheld. Nothing here refuses the mount: what decides the whole file system
    /// (both superblocks, the journal) was read before.
    /// </summary>
    private void LoadTables()
    {
        var g = Geometry;
        var media = PoisonMaskedMedia.Over(Media);
        var damagedInodes = new Dictionary<ulong, string>(); // inode number -> why its record is unreadable

        for (long slot = 0; slot < g.InodeCount; slot++)
        {
            var v = DiskInode.VerifyRead(media.Read(g.InodeOffset(slot), DiskInode.Size), Geometry.InoOfSlot(slot), out var rec);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk)
            {
                Quarantine(InodeSlots, "inode", slot, v.Problem!);
                damagedInodes[Geometry.InoOfSlot(slot)] = v.Problem!;
                continue;
            }
            if (rec.IsFree) continue;
            InodeSlots.MarkUsed(slot);
            _inodes[slot] = new Inode(rec) { Directory = rec.FileType == FileTypes.Directory ? new DirectoryIndex() : null };
        }

        // A record the tables name whose inode record is damaged stands in as a sick inode: its
        // name and its blocks stay taken, and every operation on it answers EUCLEAN.
        Inode? OwnerOf(ulong ino, bool directory)
        {
            var found = InodeAt(ino);
            if (found is not null || !damagedInodes.TryGetValue(ino, out var why)) return found;
            var stub = new Inode(new InodeRecord { Ino = ino, Mode = directory ? FileTypes.Directory | 0x1C0 : FileTypes.Regular | 0x180, Nlink = 1 })
            {
                Directory = directory ? new DirectoryIndex() : null,
            };
            _inodes[Geometry.SlotOfIno(ino)] = stub;
            Health.MarkSick(ino, $"inode {ino}: its record is damaged ({why})");
            return stub;
        }

        var root = _inodes[0] ?? OwnerOf(FormatConstants.RootIno, directory: true);
        if (root is null || !root.IsDirectory)
        {
            root = new Inode(new InodeRecord { Ino = FormatConstants.RootIno, Mode = FileTypes.Directory | 0x1ED, Nlink = 2 }) { Directory = new DirectoryIndex() };
            _inodes[0] = root;
            InodeSlots.MarkUsed(0);
            Health.MarkSick(FormatConstants.RootIno, "the root inode is missing or not a directory");
        }
        if (Health.IsSick(FormatConstants.RootIno)) Health.RefuseWrites("the root directory is damaged; run pmemfs fsck --repair");
        root.Parent = FormatConstants.RootIno;

        var names = new int[g.InodeCount]; // directory entries naming each inode, by slot
        for (long slot = 0; slot < g.DirentCount; slot++)
        {
            var v = DiskDirent.VerifyRead(media.Read(g.DirentOffset(slot), DiskDirent.Size), slot, out var d);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk)
            {
                // Whose entry it was is lost with it: the name is gone (fsck --repair finds its file a place).
                Quarantine(DirentSlots, "dirent", slot, v.Problem!);
                continue;
            }
            var parent = OwnerOf(d.Parent, directory: true);
            var child = OwnerOf(d.Child, directory: d.Type == FileTypes.ToDirentType(FileTypes.Directory));
            string? wrong = parent?.Directory is null ? $"lives in inode {d.Parent}, which is not a directory"
                : child is null ? $"points at free inode {d.Child}"
                : !Health.IsSick(child.Ino) && d.Type != FileTypes.ToDirentType(child.Rec.Mode) ? $"has the wrong type for inode {d.Child}"
                : parent.Directory.Find(d.Name) is not null ? $"repeats a name of directory {d.Parent}"
                : child.IsDirectory && child.Parent != 0 ? $"gives directory {d.Child} a second parent"
                : null;
            if (wrong is not null)
            {
                Quarantine(DirentSlots, "dirent", slot, wrong);
                if (parent?.Directory is not null) Health.MarkSick(parent.Ino, $"directory {parent.Ino}: entry slot {slot} {wrong}");
                if (child is not null) names[child.Slot]++; // its link count may still count this name
                continue;
            }
            if (child!.IsDirectory) child.Parent = d.Parent;
            DirentSlots.MarkUsed(slot);
            parent!.Directory!.Add(new DirEntry(d.Name, d.Child, d.Type, slot));
            names[child.Slot]++;
        }

        // Link counts the engine acts on: a named inode with link count 0 would be freed below as
        // an orphan, and one with fewer links than names would be freed by an unlink while
        // another entry still names it.
        if (root.Rec.Nlink == 0) Health.MarkSick(root.Ino, "the root directory has link count 0");
        foreach (var inode in _inodes)
        {
            if (inode is null || names[inode.Slot] == 0 || Health.IsSick(inode.Ino)) continue;
            if (inode.IsDirectory ? inode.Rec.Nlink == 0 : inode.Rec.Nlink < names[inode.Slot])
                Health.MarkSick(inode.Ino, $"inode {inode.Ino} has link count {inode.Rec.Nlink} but {names[inode.Slot]} directory entr{(names[inode.Slot] == 1 ? "y names" : "ies name")} it");
        }

        // Every named directory must hang from the root: a cycle of directories naming each other
        // has parents but is cut off, and walks up the parent chain (rename) would never end.
        // Such directories (and those under a sick one) are cut off: sick, and never walked.
        var rooted = new HashSet<ulong> { FormatConstants.RootIno };
        var path = new HashSet<ulong>();
        foreach (var inode in _inodes)
        {
            if (inode is null || !inode.IsDirectory || inode.Parent == 0) continue;
            path.Clear();
            string? cut = null;
            for (var cur = inode; !rooted.Contains(cur.Ino); cur = _inodes[Geometry.SlotOfIno(cur.Parent)]!)
            {
                if (!path.Add(cur.Ino)) { cut = $"directory {cur.Ino} is on a directory cycle cut off from the root"; break; }
                if (cur.Parent == 0 || InodeAt(cur.Parent) is null) { cut = $"directory {cur.Ino} holds entries but is not in any directory"; break; }
            }
            if (cut is null) rooted.UnionWith(path);
            else foreach (var ino in path) { Health.MarkSick(ino, cut); InodeAt(ino)!.Parent = 0; }
        }

        // Rmap first: every data extent must have its twin there.
        var dataRmap = new Dictionary<(ulong Ino, long FileBlock), (long Slot, RmapRecord Rec)>();
        // Blocks that records we could not reconcile claim: kept from the allocator, so that no
        // file is ever given a block a (possibly right) record says is someone else's.
        var distrusted = new List<(long Start, long Count)>();
        var metadataAreas = g.MetadataAreas().ToHashSet();
        var refcounts = new List<RefcountRecord>();
        bool countsLost = false; // a reference-count record is damaged: writes are refused
        for (long slot = 0; slot < g.RmapCount; slot++)
        {
            var bytes = media.Read(g.RmapOffset(slot), DiskRmap.Size);
            if (DiskRefcount.IsRefcountSlot(bytes))
            {
                var rv = DiskRefcount.VerifyRead(bytes, slot, out var rc);
                string? bad = !rv.IsOk ? rv.Problem
                    : Superblock.Version < 2 ? $"refcount slot {slot} in a version {Superblock.Version} image, which has no shared extents"
                    : !g.IsDataBlockRange(rc.PhysBlock, rc.BlockCount) ? $"refcount slot {slot} counts blocks outside the data area"
                    : null;
                if (bad is not null)
                {
                    // Which blocks it counted is not known: freeing shared blocks is unsafe now.
                    Quarantine(RmapSlots, "rmap", slot, bad);
                    Health.RefuseWrites($"a reference-count record is damaged ({bad}); run pmemfs fsck --repair");
                    countsLost = true;
                    continue;
                }
                RmapSlots.MarkUsed(slot);
                Sharing.AddLoaded(rc, slot);
                refcounts.Add(rc);
                continue;
            }
            var v = DiskRmap.VerifyRead(bytes, slot, out var r);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk)
            {
                Quarantine(RmapSlots, "rmap", slot, v.Problem!);
                continue;
            }
            RmapSlots.MarkUsed(slot);
            if (r.Kind == RmapOwnerKind.InodeData) dataRmap[(r.Owner, r.FileBlock)] = (slot, r);
            else if (r.Kind == RmapOwnerKind.InodeXattr)
            {
                var owner = InodeAt(r.Owner);
                if (owner is null) { Quarantine(RmapSlots, "rmap", slot, $"names free inode {r.Owner}"); distrusted.Add((r.PhysBlock, r.BlockCount)); continue; }
                if (owner.Rec.XattrBlock != r.PhysBlock || owner.Rec.XattrBlocks != r.BlockCount)
                {
                    Health.MarkSick(owner.Ino, $"rmap slot {slot} disagrees with inode {r.Owner}'s xattr blob");
                    distrusted.Add((r.PhysBlock, r.BlockCount));
                    continue;
                }
                owner.XattrRmapSlot = slot;
            }
            else if (!metadataAreas.Contains((r.Kind, r.PhysBlock, r.BlockCount)))
            {
                Quarantine(RmapSlots, "rmap", slot, $"claims blocks {r.PhysBlock} (+{r.BlockCount}) for metadata that is not there");
                distrusted.Add((r.PhysBlock, r.BlockCount));
            }
        }
        for (long slot = 0; slot < g.ExtentCount; slot++)
        {
            var v = DiskExtent.VerifyRead(media.Read(g.ExtentOffset(slot), DiskExtent.Size), slot, out var e);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk)
            {
                // Its file is found through the rmap twin left without an extent (below).
                Quarantine(ExtentSlots, "extent", slot, v.Problem!);
                continue;
            }
            var owner = OwnerOf(e.Ino, directory: false);
            if (owner is null)
            {
                Quarantine(ExtentSlots, "extent", slot, $"belongs to free inode {e.Ino}");
                distrusted.Add((e.PhysBlock, e.BlockCount));
                continue;
            }
            bool sickOwner = Health.IsSick(owner.Ino);
            if (!g.IsDataBlockRange(e.PhysBlock, e.BlockCount))
            {
                Quarantine(ExtentSlots, "extent", slot, $"maps blocks outside the data area");
                Health.MarkSick(owner.Ino, $"inode {e.Ino}: extent slot {slot} maps blocks outside the data area");
                continue;
            }
            if (!sickOwner && !owner.IsRegular && owner.Rec.FileType != FileTypes.Symlink)
                Health.MarkSick(owner.Ino, $"extent slot {slot} belongs to inode {e.Ino}, which holds no data");
            long twinSlot = -1;
            bool found = dataRmap.Remove((e.Ino, e.FileBlock), out var twin);
            if (found && twin.Rec.PhysBlock == e.PhysBlock && twin.Rec.BlockCount == e.BlockCount)
                twinSlot = twin.Slot;
            else
            {
                Health.MarkSick(owner.Ino, $"extent slot {slot} (inode {e.Ino}, file block {e.FileBlock}) has no matching rmap record");
                if (found) distrusted.Add((twin.Rec.PhysBlock, twin.Rec.BlockCount));
            }
            // Kept even for a sick file: its blocks stay taken (never handed to another file).
            ExtentSlots.MarkUsed(slot);
            owner.Extents.AddLoaded(new Extent(e.FileBlock, e.PhysBlock, e.BlockCount, e.State, slot, twinSlot));
        }
        foreach (var ((ino, fileBlock), (slot, rec)) in dataRmap)
        {
            distrusted.Add((rec.PhysBlock, rec.BlockCount));
            // An rmap record left without its extent: the extent record was damaged (its file is
            // missing data there), or the owner is gone (a stale record: nothing is lost).
            if (OwnerOf(ino, directory: false) is { } owner) Health.MarkSick(owner.Ino, $"inode {ino}: the extent at file block {fileBlock} is missing (rmap slot {slot} names it)");
            else Health.Quarantine("rmap", slot, $"names inode {ino} file block {fileBlock}, which is free");
        }

        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            if (inode.Extents.SortAfterLoad() is { } overlap) Health.MarkSick(inode.Ino, $"inode {inode.Ino}: {overlap}");
            // A truncate records the first block past the new EOF; finishing one that points inside the file would drop data.
            if (inode.Rec.PendingTrim != 0 && inode.Rec.PendingTrim - 1 < (inode.Rec.Size + FormatConstants.BlockSize - 1) / FormatConstants.BlockSize)
                Health.MarkSick(inode.Ino, $"inode {inode.Ino}: pending trim from file block {inode.Rec.PendingTrim - 1} lies inside the file (size {inode.Rec.Size})");
            if (inode.IsDirectory && inode.Parent == 0 && inode.Rec.Nlink != 0 && !Health.IsSick(inode.Ino))
                Health.MarkSick(inode.Ino, $"directory {inode.Ino} is not in any directory");
            // A removed directory is empty (rmdir): freeing one that holds entries would leave them dangling.
            if (inode.IsDirectory && inode.Parent == 0 && inode.Directory!.Count > 0)
                Health.MarkSick(inode.Ino, $"removed directory {inode.Ino} still holds entries");
            if (inode.Rec.XattrBlock != 0 && !Health.IsSick(inode.Ino))
            {
                string? bad = inode.XattrRmapSlot < 0 ? $"inode {inode.Ino}'s xattr blob has no rmap record"
                    : !g.IsDataBlockRange(inode.Rec.XattrBlock, inode.Rec.XattrBlocks) ? $"inode {inode.Ino}'s xattr blob lies outside the data area"
                    : null;
                if (bad is null)
                {
                    var blob = media.Read(Geometry.BlockOffset(inode.Rec.XattrBlock), (int)Math.Min(inode.Rec.XattrLength, (long)inode.Rec.XattrBlocks * FormatConstants.BlockSize));
                    var v = DiskXattrBlob.VerifyRead(blob, inode.Ino, out var entries);
                    if (v.IsOk) inode.Xattrs = entries;
                    else bad = v.Problem;
                }
                if (bad is not null) Health.MarkSick(inode.Ino, bad);
            }
        }

        // A block owned by several data extents (of two files, or twice in one) must be counted by
        // reference-count records, exactly; an xattr blob is never shared. Otherwise freeing one
        // owner's blocks would hand the other's out again (SharedBlocks: the rule fsck uses too):
        // the files involved are sick (nothing of theirs is ever freed); overlapping counts make
        // every free of shared blocks unsafe.
        foreach (var (a, b) in SharedBlocks.Overlapping(refcounts).Take(1))
            Health.RefuseWrites($"reference-count records for blocks {a.PhysBlock} (+{a.BlockCount}) and {b.PhysBlock} (+{b.BlockCount}) overlap; run pmemfs fsck --repair");
        var owners = new List<SharedBlocks.Owner>();
        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            foreach (var e in inode.Extents.All) owners.Add(new SharedBlocks.Owner(e.PhysBlock, e.Count, inode.Ino, e.FileBlock, IsData: true));
            if (inode.Rec.XattrBlock != 0) owners.Add(new SharedBlocks.Owner(inode.Rec.XattrBlock, inode.Rec.XattrBlocks, inode.Ino, 0, IsData: false));
        }
        foreach (var mismatch in SharedBlocks.Compare(owners, refcounts))
        {
            // With a count lost, blocks shared by files look uncounted; nothing is freed while
            // writes are refused, so those files stay readable (as XFS reads reflinked files
            // without its refcount btree): each extent has its own rmap twin vouching for it.
            if (mismatch.Inodes.Count == 0 || countsLost)
            {
                Health.RefuseWrites($"{mismatch.Describe()}; run pmemfs fsck --repair");
                continue;
            }
            foreach (var ino in mismatch.Inodes) Health.MarkSick(ino, mismatch.Describe());
        }

        // Free space: bitmap runs inside the data area. A block the maps use but the bitmap calls
        // free would be handed to a second owner: it is withheld instead (fsck --repair fixes the bitmap).
        FreeSpaceBitmap.ForEachRun(media, g, set: false, (start, count) =>
        {
            long s = Math.Max(start, g.DataStart), e = Math.Min(start + count, g.DataEnd);
            if (s < e) Blocks.AddFree(s, e - s);
        });
        foreach (var inode in _inodes)
        {
            if (inode is null) continue;
            foreach (var e in inode.Extents.All) TakeOutOfFreeSpace(inode.Ino, e.PhysBlock, e.Count);
            if (inode.Rec.XattrBlock != 0 && g.IsDataBlockRange(inode.Rec.XattrBlock, inode.Rec.XattrBlocks))
                TakeOutOfFreeSpace(inode.Ino, inode.Rec.XattrBlock, inode.Rec.XattrBlocks);
        }
        // Withheld, not just taken out: when their real owner frees them they must still not be
        // handed out. Only where the bitmap agrees they are in use: a block the bitmap calls free
        // and no trusted map uses has two witnesses against the one distrusted record (a damaged
        // block count could otherwise withhold the whole data area and every write get ENOSPC).
        if (distrusted.Count == 0) return;
        var used = new List<(long Start, long End)>();
        FreeSpaceBitmap.ForEachRun(media, g, set: true, (start, count) => used.Add((start, start + count)));
        foreach (var (start, count) in distrusted)
        {
            long s = Math.Max(start, g.DataStart), e = count >= g.DataEnd - start ? g.DataEnd : start + count;
            if (s >= e) continue;
            int i = used.BinarySearch((s, long.MaxValue));
            for (i = i < 0 ? Math.Max(0, ~i - 1) : i; i < used.Count && used[i].Start < e; i++)
            {
                long a = Math.Max(s, used[i].Start), b = Math.Min(e, used[i].End);
                if (a < b) Blocks.Withhold(a, b - a);
            }
        }
    }

    private void Quarantine(SlotAllocator table, string name, long slot, string problem)
    {
        if (!table.IsUsed(slot)) table.MarkUsed(slot);
        Health.Quarantine(name, slot, problem);
    }

    private void TakeOutOfFreeSpace(ulong ino, long start, long count)
    {
        if (!Blocks.OverlapsFree(start, count)) return;
        Blocks.TakeOut(start, count);
        Health.Record(Engine.Health.HealthEventKind.QuarantinedSlot, ino, -1, count,
            $"inode {ino} uses blocks {start}..{start + count - 1} that the bitmap marks free: kept from the allocator (pmemfs fsck --repair fixes the bitmap)");
    }

    /// <summary>Frees inodes whose last link went away and finishes interrupted truncates.</summary>
    private (int Orphans, int Trims) FinishInterruptedWork()
    {
        int orphans = 0, trims = 0;
        foreach (var inode in _inodes)
        {
            // A sick file's state is not known well enough to free or trim anything of it.
            if (inode is null || Health.IsSick(inode.Ino)) continue;
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
