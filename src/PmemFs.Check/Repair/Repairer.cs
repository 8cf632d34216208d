using System.Text;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check;

/// <summary>
/// The work of <see cref="FsckRepair"/>: the journal is replayed and checkpointed for real,
/// then every table is read, the state to reach is worked out in memory (each decision is one
/// <see cref="RepairChange"/>), and only then written, in the order documented on
/// <see cref="FsckRepair"/>.
/// </summary>
internal sealed class Repairer(IMedia media, FsckOptions options, IProgress<FsckProgress>? progress)
{
    private const string LostFoundName = "lost+found";
    private const uint LostFoundMode = FileTypes.Directory | 0x1C0; // 0700, as e2fsck makes it
    private const uint RootMode = FileTypes.Directory | 0x1ED;      // 0755, as mkfs makes it

    private readonly List<RepairChange> _changes = [];
    private Superblock _sb = null!;
    private Geometry _g = null!;
    private readonly long _now = Time.NowNs();

    // Inodes: the live ones as they should end up, as they were read, slots to clear, free slots to allocate from.
    private readonly Dictionary<ulong, InodeRecord> _inodes = [];
    private readonly Dictionary<ulong, InodeRecord> _inodesRead = [];
    private readonly HashSet<ulong> _inodesCleared = [];
    private readonly List<(long Slot, uint Generation)> _freeInodeSlots = [];
    private int _nextFreeInode;

    // Dirents: the live ones (by slot), slots to clear, slots to (re)write, free slots.
    private readonly SortedDictionary<long, DirentRecord> _dirents = [];
    private readonly HashSet<long> _direntsCleared = [];
    private readonly HashSet<long> _direntsWritten = [];
    private readonly Queue<long> _freeDirentSlots = new();

    // Extents: the live ones (by slot), slots to clear, slots to rewrite (shortened).
    private readonly SortedDictionary<long, ExtentRecord> _extents = [];
    private readonly HashSet<long> _extentsCleared = [];
    private readonly HashSet<long> _extentsWritten = [];

    // Rmap: slots to clear and records to write.
    private readonly HashSet<long> _rmapsCleared = [];
    private readonly SortedDictionary<long, RmapRecord> _rmapsWritten = [];
    private readonly SortedDictionary<long, RefcountRecord> _refcountsWritten = [];

    // Bitmap: runs of blocks to mark in use and free; words holding bits past the region's end to write as they are.
    private readonly List<(long Start, long End)> _bitmapSet = [];
    private readonly List<(long Start, long End)> _bitmapClear = [];
    private readonly SortedDictionary<long, ulong> _bitmapTailWords = [];

    // Where the repair's own transactions go (set by the journal step).
    private RepairJournal _journal = null!;

    // Superblock copies to rewrite at the end.
    private bool _writePrimary, _writeSecondary;

    // Namespace, built from _dirents.
    private readonly Dictionary<ulong, List<long>> _children = [];
    private readonly Dictionary<ulong, List<long>> _namedBy = [];
    private ulong _lostFound;
    /// <summary>Inodes this repair made (their link counts are set without a change line of their own).</summary>
    private readonly HashSet<ulong> _created = [];

    public List<RepairChange> Run()
    {
        Superblocks();
        Journal();
        ReadInodes();
        FixRoot();
        CheckXattrBlobs();
        ReadExtents();
        CheckFileMaps();
        ResolvePhysicalOwners();
        CheckFlags();
        ReadDirents();
        Namespace();
        LinkCounts();
        RebuildRmap();
        RebuildBitmap();
        Write();
        return _changes;
    }

    private void Change(string where, string message) => _changes.Add(new RepairChange(where, message));

    private void Step(string what) => progress?.Report(new FsckProgress("repair: " + what, 0, 1));

    // ---- superblock and journal ----

    private void Superblocks()
    {
        Step("superblock");
        var opened = ImageReader.ReadSuperblock(media, media is PmemMedia pm ? pm.Path : media.Description);
        _sb = opened.Superblock;
        _g = _sb.Geometry;
        if (opened.UsedCopy == SuperblockCopy.Secondary)
        {
            _writePrimary = true;
            Change("superblock", $"primary copy rewritten from the secondary (it was unusable: {opened.PrimaryProblem})");
        }
        if (opened.SecondaryProblem is not null)
        {
            _writeSecondary = true;
            Change("superblock", $"secondary copy (block {_g.SecondarySuperblock}) rewritten from the primary ({opened.SecondaryProblem})");
        }
    }

    /// <summary>Replays the journal onto the image and checkpoints it (what a read-write mount does first).</summary>
    private void Journal()
    {
        Step("journal");
        var header = DiskJournalHeader.ReadNewest(media.Read(_g.JournalHeaderOffset, DiskJournalHeader.Size * 2), _g.LogBytes, out var slotProblem);
        if (header is null)
        {
            // Nothing can be replayed. An empty log and a fresh header: old transactions can never look committed again.
            ResetJournal(1, 2);
            _journal = new RepairJournal(media, _sb, 1, 0, 3);
            Change("journal", $"header unreadable ({slotProblem ?? "both slots are empty"}): log emptied and a new header written; committed transactions in it, if any, are lost");
            return;
        }
        ReplayResult result;
        try
        {
            result = JournalReplay.Recover(media, _sb);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result = new ReplayResult(0, header.Value.TailSeq, header.Value.TailOffset, header.Value.Generation, $"{e.GetType().Name}: {e.Message}");
        }
        media.Drain();
        if (result.Problem is not null)
        {
            // The transaction at the tail breaks the rules: it and whatever follows are dropped.
            ResetJournal(result.NextSeq + 1, result.HeaderGeneration + 1);
            _journal = new RepairJournal(media, _sb, result.NextSeq + 1, 0, result.HeaderGeneration + 2);
            Change("journal", $"replayed {result.Replayed} committed transaction(s), then stopped: {result.Problem}; it and any later transactions were discarded (log emptied)");
            return;
        }
        if (result.Replayed == 0)
        {
            _journal = new RepairJournal(media, _sb, result.NextSeq, result.NextOffset, result.HeaderGeneration);
            return;
        }
        JournalReplay.WriteHeader(media, _g, result.HeaderGeneration + 1, result.NextSeq, result.NextOffset);
        _journal = new RepairJournal(media, _sb, result.NextSeq, result.NextOffset, result.HeaderGeneration + 1);
        Change("journal", $"replayed {result.Replayed} committed transaction(s) onto the image (from sequence {header.Value.TailSeq}) and checkpointed it");
    }

    private void ResetJournal(ulong seq, ulong generation)
    {
        media.Fill(_g.LogOffset, _g.LogBytes, 0);
        media.Flush(_g.LogOffset, _g.LogBytes);
        media.Drain();
        // Both slots, so neither keeps an old tail: the newer one names the empty log.
        JournalReplay.WriteHeader(media, _g, generation, seq, 0);
        JournalReplay.WriteHeader(media, _g, generation + 1, seq, 0);
    }

    // ---- inodes ----

    private void ReadInodes()
    {
        Step("inodes");
        for (long slot = 0; slot < _g.InodeCount; slot++)
        {
            ulong ino = Geometry.InoOfSlot(slot);
            var v = DiskInode.VerifyRead(media.Read(_g.InodeOffset(slot), DiskInode.Size), ino, out var rec);
            switch (v.Verdict)
            {
                case Verdict.Ok when rec.IsFree:
                    _freeInodeSlots.Add((slot, unchecked(rec.Generation + 1)));
                    break;
                case Verdict.Ok:
                    _inodesRead[ino] = rec;
                    if (FileMap.TrimInsideFile(rec))
                    {
                        // Finishing it would drop data inside the file: what lies past EOF is cut off below instead.
                        Change($"inode {ino}", $"pending trim from file block {rec.PendingTrim - 1} lay inside the file (size {rec.Size}): cleared");
                        rec = rec with { PendingTrim = 0 };
                    }
                    _inodes[ino] = rec;
                    break;
                case Verdict.Empty:
                    _freeInodeSlots.Add((slot, 1));
                    break;
                default:
                    _inodesCleared.Add(ino);
                    Change($"inode {ino}", $"record cleared: it cannot be trusted ({Describe.Verdict(v, $"inode {ino}")}); whatever it held is lost (its entries and extents go below)");
                    break;
            }
        }
    }

    private void FixRoot()
    {
        const ulong root = FormatConstants.RootIno;
        if (_inodes.TryGetValue(root, out var rec) && rec.FileType == FileTypes.Directory) return;
        string was = _inodesCleared.Contains(root) ? "its record was cleared" : _inodes.ContainsKey(root) ? $"it was a {Describe.FileType(rec.Mode)}" : "it was free";
        uint generation = _inodes.TryGetValue(root, out var old) ? unchecked(old.Generation + 1) : 1;
        _freeInodeSlots.RemoveAll(s => s.Slot == Geometry.SlotOfIno(root));
        _inodes[root] = new InodeRecord
        {
            Ino = root, Generation = generation, Mode = RootMode, Nlink = 2,
            AtimeNs = _now, MtimeNs = _now, CtimeNs = _now, BtimeNs = _now,
        };
        _created.Add(root);
        Change($"inode {root}", $"root directory recreated ({was}): mode 0755, owner root; entries naming it as their directory stay");
    }

    private void CheckXattrBlobs()
    {
        Step("xattr blobs");
        foreach (var ino in _inodes.Keys.Order().ToList())
        {
            var rec = _inodes[ino];
            if (rec.XattrBlock == 0) continue;
            string? problem = null;
            if (!_g.IsDataBlockRange(rec.XattrBlock, rec.XattrBlocks)) problem = "lies outside the data area";
            else
            {
                var v = DiskXattrBlob.VerifyRead(media.Read(Geometry.BlockOffset(rec.XattrBlock), (int)rec.XattrLength), ino, out _);
                if (!v.IsOk) problem = v.Verdict == Verdict.BadChecksum ? "fails its checksum" : $"is corrupt ({Describe.Verdict(v, $"inode {ino}")})";
            }
            if (problem is not null) DropXattrs(ino, problem);
        }
    }

    private void DropXattrs(ulong ino, string why)
    {
        var rec = _inodes[ino];
        Change($"inode {ino}", $"extended attributes removed: their blob ({Describe.Range(rec.XattrBlock, rec.XattrBlocks)}) {why}");
        _inodes[ino] = rec with { XattrBlock = 0, XattrLength = 0, XattrBlocks = 0 };
    }

    // ---- extents ----

    private void ReadExtents()
    {
        Step("extents");
        for (long slot = 0; slot < _g.ExtentCount; slot++)
        {
            var v = DiskExtent.VerifyRead(media.Read(_g.ExtentOffset(slot), DiskExtent.Size), slot, out var e);
            if (v.Verdict == Verdict.Empty) continue;
            if (!v.IsOk)
            {
                _extentsCleared.Add(slot);
                Change($"extent slot {slot}", $"cleared: it cannot be trusted ({Describe.Verdict(v, $"extent slot {slot}")}); the file blocks it mapped are lost (they read as a hole)");
                continue;
            }
            string? reason = null;
            if (!_g.IsValidIno(e.Ino)) reason = $"belongs to inode {e.Ino}, which does not exist";
            else if (!_inodes.TryGetValue(e.Ino, out var owner)) reason = $"belongs to free inode {e.Ino}";
            else if (owner.FileType is not (FileTypes.Regular or FileTypes.Symlink)) reason = $"belongs to inode {e.Ino}, a {Describe.FileType(owner.Mode)}, which cannot have data blocks";
            else if (!_g.IsDataBlockRange(e.PhysBlock, e.BlockCount)) reason = $"maps blocks outside the data area ({Describe.Blocks(_g.DataStart, _g.DataBlocks)})";
            if (reason is not null)
            {
                _extentsCleared.Add(slot);
                Change($"extent slot {slot}", $"removed ({Show(e)}): {reason}");
                continue;
            }
            _extents[slot] = e;
        }
    }

    private static string Show(ExtentRecord e) => $"inode {e.Ino} file block {e.FileBlock} -> {Describe.Range(e.PhysBlock, e.BlockCount)}";

    private void RemoveExtent(long slot, string why)
    {
        var e = _extents[slot];
        _extents.Remove(slot);
        _extentsWritten.Remove(slot);
        _extentsCleared.Add(slot);
        Change($"extent slot {slot}", $"removed ({Show(e)}): {why}");
    }

    /// <summary>Per file: no two extents over one file block; no written block past EOF unless a truncate is pending.</summary>
    private void CheckFileMaps()
    {
        var byIno = new Dictionary<ulong, List<long>>();
        foreach (var (slot, e) in _extents)
        {
            if (!byIno.TryGetValue(e.Ino, out var list)) byIno[e.Ino] = list = [];
            list.Add(slot);
        }
        foreach (var ino in byIno.Keys.Order())
        {
            var rec = _inodes[ino];
            var slots = byIno[ino];
            slots.Sort((a, b) => _extents[a].FileBlock != _extents[b].FileBlock ? _extents[a].FileBlock.CompareTo(_extents[b].FileBlock) : a.CompareTo(b));
            long eofBlock = FileMap.EofBlock(rec);
            long maxEnd = 0, maxSlot = -1;
            foreach (long slot in slots)
            {
                var e = _extents[slot];
                if (maxSlot >= 0 && e.FileBlock < maxEnd)
                {
                    RemoveExtent(slot, $"overlaps extent slot {maxSlot} in the file");
                    continue;
                }
                if (FileMap.WrittenBeyondEof(rec, e) >= 0)
                {
                    if (e.FileBlock >= eofBlock)
                    {
                        RemoveExtent(slot, $"written blocks beyond EOF (size {rec.Size})");
                        continue;
                    }
                    long keep = eofBlock - e.FileBlock;
                    Change($"extent slot {slot}", $"shortened ({Show(e)}): written file blocks {eofBlock}..{e.FileEnd - 1} lay beyond EOF (size {rec.Size}); {Describe.Range(e.PhysBlock + keep, e.BlockCount - keep)} freed");
                    e = e with { BlockCount = keep };
                    _extents[slot] = e;
                    _extentsWritten.Add(slot);
                }
                if (e.FileEnd > maxEnd) (maxEnd, maxSlot) = (e.FileEnd, slot);
            }
        }
    }

    /// <summary>
    /// No physical block owned twice, except by data extents (shared blocks: their reference
    /// counts are rewritten to match in <see cref="RebuildRmap"/>). Metadata wins, then extents,
    /// then xattr blobs (by first block, then inode); the loser goes.
    /// </summary>
    private void ResolvePhysicalOwners()
    {
        Step("physical blocks");
        var claims = new List<PhysClaim>();
        foreach (var (kind, start, blocks) in _g.MetadataAreas()) claims.Add(new PhysClaim(start, start + blocks, 0, 0, $"{Describe.Owner(kind, 0)}"));
        foreach (var (slot, e) in _extents) claims.Add(new PhysClaim(e.PhysBlock, e.PhysEnd, 1, slot, $"inode {e.Ino} (extent slot {slot})"));
        foreach (var (ino, rec) in _inodes)
            if (rec.XattrBlock != 0) claims.Add(new PhysClaim(rec.XattrBlock, rec.XattrBlock + rec.XattrBlocks, 2, (long)ino, $"inode {ino} (xattr blob)"));

        // Rank by rank: a claim goes when it meets one accepted at a lower rank, or an earlier one
        // (by start) of its own rank, except extents among themselves: those may share blocks.
        var accepted = new List<PhysClaim>();
        foreach (int rank in new[] { 0, 1, 2 })
        {
            var lower = new Claims(accepted);
            PhysClaim? reach = null; // the winner of this rank reaching furthest so far
            foreach (var c in claims.Where(c => c.Rank == rank).OrderBy(c => c.Start).ThenBy(c => c.Id))
            {
                var other = lower.Meeting(c) ?? (rank != 1 && reach is { } r && r.End > c.Start ? r : null);
                if (other is { } w)
                {
                    long s = Math.Max(c.Start, w.Start), e = Math.Min(c.End, w.End);
                    Reject(c, $"{Describe.Blocks(s, e - s)} also owned by {w.Who}");
                    continue;
                }
                accepted.Add(c);
                if (reach is not { } rr || c.End > rr.End) reach = c;
            }
        }
    }

    /// <summary>Claims sorted by start with the furthest end so far, to find one meeting a range in O(log n).</summary>
    private sealed class Claims
    {
        private readonly List<PhysClaim> _sorted;
        private readonly long[] _reach;

        public Claims(IEnumerable<PhysClaim> claims)
        {
            _sorted = [.. claims.OrderBy(c => c.Start)];
            _reach = new long[_sorted.Count];
            for (int i = 0; i < _sorted.Count; i++) _reach[i] = Math.Max(i > 0 ? _reach[i - 1] : long.MinValue, _sorted[i].End);
        }

        /// <summary>The first claim (by start) that meets <paramref name="c"/>, or null.</summary>
        public PhysClaim? Meeting(PhysClaim c)
        {
            // The first index whose furthest end passes c's start: that claim itself ends there.
            int lo = 0, hi = _sorted.Count;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (_reach[mid] <= c.Start) lo = mid + 1;
                else hi = mid;
            }
            return lo < _sorted.Count && _sorted[lo].Start < c.End ? _sorted[lo] : null;
        }
    }

    private void Reject(PhysClaim c, string why)
    {
        if (c.Rank == 1) RemoveExtent(c.Id, why);
        else if (c.Rank == 2) DropXattrs((ulong)c.Id, why);
    }

    private readonly record struct PhysClaim(long Start, long End, int Rank, long Id, string Who);

    /// <summary>
    /// Flags the inode's type or its final map (the extents that stay) do not allow are cleared:
    /// only the flag, the data stays where it is (<see cref="FlagInvariants"/>).
    /// </summary>
    private void CheckFlags()
    {
        Step("flags");
        var concerned = _inodes.Keys.Where(ino => FlagInvariants.Concerned(_inodes[ino])).Order().ToList();
        if (concerned.Count == 0) return;
        var byIno = concerned.ToDictionary(ino => ino, _ => new List<(long Slot, ExtentRecord Rec)>());
        foreach (var (slot, e) in _extents)
            if (byIno.TryGetValue(e.Ino, out var list)) list.Add((slot, e));
        // Shared as the repaired image will say: the reference counts are rewritten from the extents that stay.
        var shared = ExpectedRefcounts().Select(r => (r.PhysBlock, r.PhysEnd)).ToList();
        foreach (var ino in concerned)
            _inodes[ino] = FlagInvariants.Repair(_inodes[ino], byIno[ino], shared, message => Change($"inode {ino}", message));
    }

    /// <summary>The reference-count records the extents that stay call for (<see cref="SharedBlocks.Expected"/>).</summary>
    private List<RefcountRecord> ExpectedRefcounts() =>
        SharedBlocks.Expected(_extents.Values.Select(e => new SharedBlocks.Owner(e.PhysBlock, e.BlockCount, e.Ino, e.FileBlock, IsData: true)));

    // ---- dirents and the namespace ----

    private void ReadDirents()
    {
        Step("dirents");
        var names = new Dictionary<ulong, Dictionary<byte[], long>>();
        for (long slot = 0; slot < _g.DirentCount; slot++)
        {
            var v = DiskDirent.VerifyRead(media.Read(_g.DirentOffset(slot), DiskDirent.Size), slot, out var d);
            if (v.Verdict == Verdict.Empty) { _freeDirentSlots.Enqueue(slot); continue; }
            string where = $"dirent slot {slot}";
            if (!v.IsOk)
            {
                ClearDirent(slot);
                Change(where, $"cleared: it cannot be trusted ({Describe.Verdict(v, where)}); the name it held is lost");
                continue;
            }
            string name = Describe.Name(d.Name);
            string? reason = null;
            if (!_g.IsValidIno(d.Parent)) reason = $"lives in inode {d.Parent}, which does not exist";
            else if (!_inodes.TryGetValue(d.Parent, out var parent)) reason = $"lives in free inode {d.Parent}";
            else if (parent.FileType != FileTypes.Directory) reason = $"lives in inode {d.Parent}, a {Describe.FileType(parent.Mode)}, not a directory";
            else if (!_g.IsValidIno(d.Child)) reason = $"points at inode {d.Child}, which does not exist";
            else if (!_inodes.ContainsKey(d.Child)) reason = $"points at free inode {d.Child}";
            else if (d.Child == FormatConstants.RootIno) reason = "points at the root directory";
            else
            {
                if (!names.TryGetValue(d.Parent, out var inDir)) names[d.Parent] = inDir = new Dictionary<byte[], long>(ByteArrayComparer.Instance);
                if (!inDir.TryAdd(d.Name, slot)) reason = $"repeats a name of directory {d.Parent} (also dirent slot {inDir[d.Name]})";
            }
            if (reason is not null)
            {
                ClearDirent(slot);
                Change(where, $"removed: {name} {reason}");
                continue;
            }
            var child = _inodes[d.Child];
            byte type = FileTypes.ToDirentType(child.Mode);
            if (d.Type != type)
            {
                Change(where, $"{name}: type {d.Type} -> {type} (inode {d.Child} is a {Describe.FileType(child.Mode)})");
                d = d with { Type = type };
                _direntsWritten.Add(slot);
            }
            _dirents[slot] = d;
        }
    }

    private void ClearDirent(long slot)
    {
        _dirents.Remove(slot);
        _direntsWritten.Remove(slot);
        _direntsCleared.Add(slot);
    }

    private void RemoveLink(long slot, string why)
    {
        var d = _dirents[slot];
        _children[d.Parent].Remove(slot);
        _namedBy[d.Child].Remove(slot);
        ClearDirent(slot);
        Change($"dirent slot {slot}", $"removed: {Describe.Name(d.Name)} in directory {d.Parent} {why}");
    }

    private void AddLink(long slot, DirentRecord d)
    {
        _dirents[slot] = d;
        _direntsWritten.Add(slot);
        _direntsCleared.Remove(slot);
        Index(slot, d);
    }

    private void Index(long slot, DirentRecord d)
    {
        if (!_children.TryGetValue(d.Parent, out var c)) _children[d.Parent] = c = [];
        c.Add(slot);
        if (!_namedBy.TryGetValue(d.Child, out var n)) _namedBy[d.Child] = n = [];
        n.Add(slot);
    }

    private List<long> NamesOf(ulong ino) => _namedBy.TryGetValue(ino, out var n) ? n : [];

    private List<long> ChildrenOf(ulong ino) => _children.TryGetValue(ino, out var c) ? c : [];

    private bool IsDir(ulong ino) => _inodes.TryGetValue(ino, out var r) && r.FileType == FileTypes.Directory;

    /// <summary>An inode whose last link went away: the next mount frees it (not a problem).</summary>
    private bool IsOrphan(ulong ino) =>
        ino != FormatConstants.RootIno && _inodes[ino].Nlink == 0 && NamesOf(ino).Count == 0 && ChildrenOf(ino).Count == 0;

    private void Namespace()
    {
        Step("namespace");
        foreach (var (slot, d) in _dirents) Index(slot, d);

        // A directory has exactly one entry: the first one (by slot) stays.
        foreach (var ino in _namedBy.Keys.Order().ToList())
        {
            if (!IsDir(ino)) continue;
            var names = NamesOf(ino);
            foreach (long slot in names.Skip(1).ToList()) RemoveLink(slot, $"is a second entry naming directory {ino} (a directory has one parent; dirent slot {names[0]} stays)");
        }

        var reachable = new HashSet<ulong>();
        Walk(FormatConstants.RootIno, reachable);

        // Lost directories first: the top of each lost subtree (or a member of a cycle) goes to /lost+found, with all below it.
        foreach (var ino in _inodes.Keys.Where(IsDir).Order().ToList())
        {
            if (reachable.Contains(ino) || IsOrphan(ino)) continue;
            ulong top = ino;
            var path = new HashSet<ulong>();
            string why = "no directory entry names it";
            while (true)
            {
                var names = NamesOf(top);
                if (names.Count == 0) break;
                if (!path.Add(top))
                {
                    why = "it was on a directory cycle unreachable from the root";
                    RemoveLink(names[0], $"closed a directory cycle (directory {top} goes to /{LostFoundName})");
                    break;
                }
                top = _dirents[names[0]].Parent;
            }
            if (LinkIntoLostFound(top, why, reachable)) Walk(top, reachable);
        }

        // Then files (and the rest) that no entry names but whose link count says they are in use.
        foreach (var ino in _inodes.Keys.Order().ToList())
        {
            if (reachable.Contains(ino) || IsDir(ino) || IsOrphan(ino) || NamesOf(ino).Count > 0) continue;
            if (LinkIntoLostFound(ino, "no directory entry names it", reachable)) reachable.Add(ino);
        }
    }

    private void Walk(ulong start, HashSet<ulong> seen)
    {
        var queue = new Queue<ulong>();
        seen.Add(start);
        if (IsDir(start)) queue.Enqueue(start);
        while (queue.Count > 0)
        {
            var dir = queue.Dequeue();
            foreach (long slot in ChildrenOf(dir))
            {
                ulong child = _dirents[slot].Child;
                if (seen.Add(child) && IsDir(child)) queue.Enqueue(child);
            }
        }
    }

    private bool LinkIntoLostFound(ulong ino, string why, HashSet<ulong> reachable)
    {
        var rec = _inodes[ino];
        ulong lf = LostFound(reachable);
        if (lf == 0) return false;
        string name = "#" + ino;
        var taken = ChildrenOf(lf).Select(s => Encoding.UTF8.GetString(_dirents[s].Name)).ToHashSet(StringComparer.Ordinal);
        for (int n = 1; taken.Contains(name); n++) name = $"#{ino}.{n}";
        if (!_freeDirentSlots.TryDequeue(out long slot))
        {
            Change($"inode {ino}", $"could not be linked into /{LostFoundName}: the dirent table is full");
            return false;
        }
        AddLink(slot, new DirentRecord(lf, ino, FileTypes.ToDirentType(rec.Mode), Encoding.UTF8.GetBytes(name)));
        Change($"inode {ino}", $"{Describe.FileType(rec.Mode)} unreachable from the root ({why}): linked as /{LostFoundName}/{name}");
        return true;
    }

    /// <summary>/lost+found, created when missing; 0 when it cannot be had.</summary>
    private ulong LostFound(HashSet<ulong> reachable)
    {
        if (_lostFound != 0) return _lostFound;
        const ulong root = FormatConstants.RootIno;
        var lf = "lost+found"u8.ToArray();
        foreach (long slot in ChildrenOf(root))
        {
            var d = _dirents[slot];
            if (!d.Name.AsSpan().SequenceEqual(lf)) continue;
            if (IsDir(d.Child)) return _lostFound = d.Child;
            Change($"dirent slot {slot}", $"/{LostFoundName} is a {Describe.FileType(_inodes[d.Child].Mode)}, not a directory: lost files cannot be linked anywhere");
            return 0;
        }
        if (_nextFreeInode >= _freeInodeSlots.Count || !_freeDirentSlots.TryDequeue(out long dslot))
        {
            Change($"/{LostFoundName}", "cannot be created: the inode or dirent table is full");
            return 0;
        }
        var (islot, generation) = _freeInodeSlots[_nextFreeInode++];
        ulong ino = Geometry.InoOfSlot(islot);
        _inodes[ino] = new InodeRecord
        {
            Ino = ino, Generation = generation, Mode = LostFoundMode, Nlink = 2,
            AtimeNs = _now, MtimeNs = _now, CtimeNs = _now, BtimeNs = _now,
        };
        AddLink(dslot, new DirentRecord(root, ino, FileTypes.ToDirentType(LostFoundMode), lf));
        reachable.Add(ino);
        _created.Add(ino);
        Change($"/{LostFoundName}", $"created (inode {ino}, dirent slot {dslot})");
        return _lostFound = ino;
    }

    private void LinkCounts()
    {
        foreach (var ino in _inodes.Keys.Order().ToList())
        {
            var rec = _inodes[ino];
            if (IsOrphan(ino)) continue;
            uint want;
            string because;
            if (rec.FileType == FileTypes.Directory)
            {
                int subdirs = ChildrenOf(ino).Count(s => IsDir(_dirents[s].Child));
                want = (uint)(2 + subdirs);
                because = $"2 + {subdirs} subdirector{(subdirs == 1 ? "y" : "ies")}";
            }
            else
            {
                int links = NamesOf(ino).Count;
                if (links == 0) continue; // could not be linked anywhere: left as found
                want = (uint)links;
                because = $"{links} directory entr{(links == 1 ? "y names" : "ies name")} it";
            }
            if (rec.Nlink == want) continue;
            if (!_created.Contains(ino)) Change($"inode {ino}", $"link count {rec.Nlink} -> {want} ({because})");
            _inodes[ino] = rec with { Nlink = want };
        }
    }

    // ---- derived structures ----

    /// <summary>The rmap table as the extents, xattr blobs and geometry say: matching records stay where they are.</summary>
    private void RebuildRmap()
    {
        Step("rmap");
        var wanted = new List<RmapRecord>();
        foreach (var (kind, start, blocks) in _g.MetadataAreas()) wanted.Add(new RmapRecord(start, blocks, kind, 0, 0));
        foreach (var e in _extents.Values) wanted.Add(new RmapRecord(e.PhysBlock, e.BlockCount, RmapOwnerKind.InodeData, e.Ino, e.FileBlock));
        foreach (var ino in _inodes.Keys.Order())
        {
            var rec = _inodes[ino];
            if (rec.XattrBlock != 0) wanted.Add(new RmapRecord(rec.XattrBlock, rec.XattrBlocks, RmapOwnerKind.InodeXattr, ino, 0));
        }
        var missing = new Dictionary<RmapRecord, int>();
        foreach (var r in wanted) missing[r] = missing.GetValueOrDefault(r) + 1;

        var refcounts = ExpectedRefcounts();
        var refcountsMissing = refcounts.ToHashSet(); // Expected never repeats a range
        var refcountsRead = new List<(long Slot, RefcountRecord Rec)>();

        var free = new List<long>();
        var freed = new List<long>();
        for (long slot = 0; slot < _g.RmapCount; slot++)
        {
            var bytes = media.Read(_g.RmapOffset(slot), DiskRmap.Size);
            string where = $"rmap slot {slot}";
            if (DiskRefcount.IsRefcountSlot(bytes))
            {
                var rv = DiskRefcount.VerifyRead(bytes, slot, out var rc);
                if (!rv.IsOk)
                {
                    _rmapsCleared.Add(slot);
                    freed.Add(slot);
                    Change(where, $"cleared: reference-count record ({Describe.Verdict(rv, $"refcount slot {slot}")}); the counts are rebuilt from the extents");
                }
                else if (!refcountsMissing.Remove(rc)) refcountsRead.Add((slot, rc));
                continue;
            }
            var v = DiskRmap.VerifyRead(bytes, slot, out var r);
            if (v.Verdict == Verdict.Empty) { free.Add(slot); continue; }
            if (!v.IsOk)
            {
                _rmapsCleared.Add(slot);
                freed.Add(slot);
                Change(where, $"cleared ({Describe.Verdict(v, where)}); the table is rebuilt from the extents");
                continue;
            }
            if (missing.TryGetValue(r, out int n) && n > 0)
            {
                missing[r] = n - 1;
                continue;
            }
            _rmapsCleared.Add(slot);
            freed.Add(slot);
            Change(where, $"removed: {Show(r)} matches no extent, xattr blob or metadata area");
        }

        // Reference counts: a record over the right range with the wrong count is rewritten in
        // place; the others that no range calls for go, and the missing ones are added.
        var byRange = refcountsMissing.ToDictionary(r => (r.PhysBlock, r.BlockCount));
        foreach (var (slot, rc) in refcountsRead)
        {
            string where = $"rmap slot {slot}";
            if (byRange.Remove((rc.PhysBlock, rc.BlockCount), out var want))
            {
                refcountsMissing.Remove(want);
                _refcountsWritten[slot] = want;
                Change(where, $"reference count {rc.Refs} -> {want.Refs} for {Describe.Range(rc.PhysBlock, rc.BlockCount)} ({want.Refs} extents map them)");
                continue;
            }
            _rmapsCleared.Add(slot);
            freed.Add(slot);
            Change(where, $"removed: reference count {rc.Refs} for {Describe.Range(rc.PhysBlock, rc.BlockCount)}: {RefcountMismatch(rc, refcounts)}");
        }

        int next = 0;
        free.AddRange(freed);
        foreach (var rc in refcounts)
        {
            if (!refcountsMissing.Contains(rc)) continue;
            if (next >= free.Count)
            {
                Change("rmap", $"no free slot for reference count {rc.Refs} of {Describe.Range(rc.PhysBlock, rc.BlockCount)}: the rmap table is full");
                continue;
            }
            long slot = free[next++];
            _rmapsCleared.Remove(slot);
            _refcountsWritten[slot] = rc;
            Change($"rmap slot {slot}", $"added: reference count {rc.Refs} for {Describe.Range(rc.PhysBlock, rc.BlockCount)} ({rc.Refs} extents map them)");
        }

        // Records in a version 1 image: the image becomes version 2, as the engine does at its first sharing.
        if (refcounts.Count > 0 && _sb.Version < 2)
        {
            Change("superblock", $"format version {_sb.Version} -> 2 (both copies): the image holds shared blocks, which need reference-count records");
            _sb = _sb with { Version = 2 };
            _writePrimary = _writeSecondary = true;
        }

        foreach (var r in wanted)
        {
            if (missing[r] == 0) continue;
            missing[r]--;
            if (next >= free.Count)
            {
                Change("rmap", $"no free slot for {Show(r)}: the rmap table is full");
                continue;
            }
            long slot = free[next++];
            _rmapsCleared.Remove(slot);
            _rmapsWritten[slot] = r;
            Change($"rmap slot {slot}", $"added: {Show(r)}");
        }
    }

    /// <summary>Why a record read from the table is not one <paramref name="expected"/> holds.</summary>
    private static string RefcountMismatch(RefcountRecord rc, List<RefcountRecord> expected)
    {
        var meeting = expected.Where(e => e.PhysBlock < rc.PhysEnd && rc.PhysBlock < e.PhysEnd).ToList();
        if (meeting.Count == 0) return "no two extents share those blocks";
        return $"the shared blocks there are {string.Join(", ", meeting.Take(3).Select(e => $"{Describe.Range(e.PhysBlock, e.BlockCount)} (count {e.Refs})"))}{(meeting.Count > 3 ? ", ..." : "")}";
    }

    private static string Show(RmapRecord r) => r.Kind switch
    {
        RmapOwnerKind.InodeData => $"inode {r.Owner} file block {r.FileBlock} at {Describe.Range(r.PhysBlock, r.BlockCount)}",
        _ => $"{Describe.Owner(r.Kind, r.Owner)} at {Describe.Range(r.PhysBlock, r.BlockCount)}",
    };

    /// <summary>The bitmap as the owners say: set exactly for the metadata areas, the extents, the xattr blobs (and the bits past the region).</summary>
    private void RebuildBitmap()
    {
        Step("bitmap");
        long blocks = _g.BlockCount;
        long words = (blocks + 63) / 64;
        var want = new ulong[words];
        void Mark(long start, long count)
        {
            for (long b = start; b < start + count; b++) want[b >> 6] |= 1UL << (int)(b & 63);
        }
        foreach (var (_, start, count) in _g.MetadataAreas()) Mark(start, count);
        foreach (var e in _extents.Values) Mark(e.PhysBlock, e.BlockCount);
        foreach (var rec in _inodes.Values)
            if (rec.XattrBlock != 0) Mark(rec.XattrBlock, rec.XattrBlocks);
        if (blocks % 64 != 0) want[words - 1] |= ulong.MaxValue << (int)(blocks % 64);

        long bitmap = Geometry.BlockOffset(_g.BitmapStart);
        var setRuns = new List<(long Start, long End)>();
        var clearRuns = new List<(long Start, long End)>();
        for (long w = 0; w < words; w++)
        {
            ulong have = media.ReadUInt64(bitmap + w * 8);
            if (have == want[w]) continue;
            ulong diff = have ^ want[w];
            for (int bit = 0; bit < 64; bit++)
            {
                if ((diff & (1UL << bit)) == 0) continue;
                long b = w * 64 + bit;
                if (b >= blocks) _bitmapTailWords[w] = want[w]; // the journal changes bits of real blocks only
                var runs = (want[w] & (1UL << bit)) != 0 ? setRuns : clearRuns;
                if (runs.Count > 0 && runs[^1].End == b) runs[^1] = (runs[^1].Start, b + 1);
                else runs.Add((b, b + 1));
            }
        }
        foreach (var (start, end) in setRuns) if (start < blocks) _bitmapSet.Add((start, Math.Min(end, blocks)));
        foreach (var (start, end) in clearRuns) if (start < blocks) _bitmapClear.Add((start, Math.Min(end, blocks)));
        ReportRuns(setRuns, "marked in use (owned, but they were marked free)", "more runs marked in use");
        ReportRuns(clearRuns, "marked free (they were marked in use but nobody owns them)", "more runs marked free");
    }

    private void ReportRuns(List<(long Start, long End)> runs, string what, string more)
    {
        int shown = options.Verbose ? runs.Count : Math.Min(runs.Count, FsckContext.BitmapLinesPerKind);
        for (int i = 0; i < shown; i++)
        {
            var (s, e) = runs[i];
            string range = s >= _g.BlockCount ? "bits past the end of the region" : Describe.Blocks(s, Math.Min(e, _g.BlockCount) - s);
            Change("bitmap", $"{range} {what}");
        }
        if (runs.Count > shown) Change("bitmap", $"... and {runs.Count - shown} {more}");
    }

    // ---- writing ----

    private void Write()
    {
        Step("writing");
        // Through the journal (RepairJournal): a crash leaves whole transactions or none, and
        // the order below only matters where one repair needs more than one transaction.
        // 2. Removals.
        foreach (long slot in _direntsCleared) Zero(_g.DirentOffset(slot), DiskDirent.Size);
        foreach (long slot in _extentsCleared) Zero(_g.ExtentOffset(slot), DiskExtent.Size);
        foreach (ulong ino in _inodesCleared)
            if (!_inodes.ContainsKey(ino)) Zero(_g.InodeOffset(Geometry.SlotOfIno(ino)), DiskInode.Size);

        // 3. Inode records.
        var buf = new byte[DiskDirent.Size];
        foreach (var (ino, rec) in _inodes)
        {
            if (_inodesRead.TryGetValue(ino, out var read) && read == rec) continue;
            DiskInode.Seal(rec, buf.AsSpan(0, DiskInode.Size));
            Store(_g.InodeOffset(Geometry.SlotOfIno(ino)), buf.AsSpan(0, DiskInode.Size));
        }

        // 4. Dirent records, shortened extents.
        foreach (long slot in _direntsWritten)
        {
            DiskDirent.Seal(_dirents[slot], buf.AsSpan(0, DiskDirent.Size));
            Store(_g.DirentOffset(slot), buf.AsSpan(0, DiskDirent.Size));
        }
        foreach (long slot in _extentsWritten)
        {
            DiskExtent.Seal(_extents[slot], buf.AsSpan(0, DiskExtent.Size));
            Store(_g.ExtentOffset(slot), buf.AsSpan(0, DiskExtent.Size));
        }

        // 5. The rmap table.
        foreach (long slot in _rmapsCleared) Zero(_g.RmapOffset(slot), DiskRmap.Size);
        foreach (var (slot, r) in _rmapsWritten)
        {
            DiskRmap.Seal(r, buf.AsSpan(0, DiskRmap.Size));
            Store(_g.RmapOffset(slot), buf.AsSpan(0, DiskRmap.Size));
        }
        foreach (var (slot, rc) in _refcountsWritten)
        {
            DiskRefcount.Seal(rc, buf.AsSpan(0, DiskRefcount.Size));
            Store(_g.RmapOffset(slot), buf.AsSpan(0, DiskRefcount.Size));
        }

        // 6. The bitmap (bit ranges, as the engine logs them).
        foreach (var (start, end) in _bitmapClear) _journal.ClearBits(start, end - start);
        foreach (var (start, end) in _bitmapSet) _journal.SetBits(start, end - start);
        _journal.Commit();
        // Bits past the region's last block belong to no block: their words are written as they should read.
        long bitmap = Geometry.BlockOffset(_g.BitmapStart);
        Span<byte> word = stackalloc byte[8];
        foreach (var (w, value) in _bitmapTailWords)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(word, value);
            media.Write(bitmap + w * 8, word);
            media.Flush(bitmap + w * 8, 8);
        }
        media.Drain();

        // 7. The superblock copy that was bad (or both, for a version upgrade), last (each persisted).
        if (_writeSecondary) ImageReader.WriteSuperblock(media, _sb, SuperblockCopy.Secondary);
        if (_writePrimary) ImageReader.WriteSuperblock(media, _sb, SuperblockCopy.Primary);
    }

    private void Zero(long offset, int length) => _journal.Zero(offset, length);

    private void Store(long offset, ReadOnlySpan<byte> bytes) => _journal.Write(offset, bytes);
}
