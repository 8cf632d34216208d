using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check;

/// <summary>
/// What the phases share: the media, the superblock, what each table held, and the findings.
/// Everything here is proportional to what the tables hold (never to a count read from a
/// record), so a corrupted image cannot make fsck allocate without bound.
/// </summary>
internal sealed class FsckContext(IMedia media, FsckOptions options, IProgress<FsckProgress>? progress)
{
    /// <summary>Problem lines kept per kind before "... and K more" (not applied with Verbose).</summary>
    public const int DefaultLinesPerKind = 1000;

    /// <summary>Bitmap run lines kept per kind (free-space problems come in floods).</summary>
    public const int BitmapLinesPerKind = 20;

    /// <summary>How many slots between progress reports.</summary>
    public const int ProgressEvery = 4096;

    private readonly List<FsckProblem> _problems = [];
    private readonly List<string> _notes = [];
    private readonly Dictionary<string, Cap> _caps = new(StringComparer.Ordinal);

    public IMedia Media { get; } = media;
    /// <summary>How messages name the image (its path when there is one).</summary>
    public string ImageName { get; init; } = media.Description;
    public FsckOptions Options { get; } = options;
    public Superblock Superblock { get; set; } = null!;
    public Geometry Geometry => Superblock.Geometry;

    // Phase 3: allocated inodes whose record verified, and inode numbers whose record did not.
    public Dictionary<ulong, InodeRecord> Inodes { get; } = [];
    public HashSet<ulong> DamagedInodes { get; } = [];

    // Phase 4: entries whose parent is a live (or damaged) directory and whose child is live (or damaged).
    public List<DirentInfo> Dirents { get; } = [];
    /// <summary>Inodes named by an entry of a damaged directory: their place in the tree is unknown.</summary>
    public HashSet<ulong> UnderDamagedDirectory { get; } = [];
    /// <summary>Some dirent slot failed its verifier: a link count may be short by an entry we could not read.</summary>
    public bool DamagedDirents { get; set; }

    // Phase 5: every verified extent and rmap record, and the physical ranges something claims.
    public List<(long Slot, ExtentRecord Rec)> Extents { get; } = [];
    public List<(long Slot, RmapRecord Rec)> Rmaps { get; } = [];
    /// <summary>Reference-count records (rmap-table slots with the "RC" magic) that verified and lie in the data area.</summary>
    public List<(long Slot, RefcountRecord Rec)> Refcounts { get; } = [];
    public List<Claim> Claims { get; } = [];

    public long DirentCount { get; set; }
    public long UsedDataBlocks { get; set; }
    public long FreeDataBlocks { get; set; }
    public int TransactionsReplayed { get; set; }
    public int Orphans { get; set; }
    public int PendingTrims { get; set; }

    /// <summary>
    /// Records a problem. Problems of one kind (by default the first word of
    /// <paramref name="where"/>: "inode", "dirent"...) beyond <paramref name="limit"/> lines are
    /// only counted, and a phase ends with "... and K more <paramref name="more"/>".
    /// </summary>
    public void Problem(string where, string message, string? kind = null, int limit = DefaultLinesPerKind, string? more = null)
    {
        kind ??= where.Split(' ')[0];
        if (!Options.Verbose)
        {
            ref var cap = ref CollectionsMarshal.GetValueRefOrAddDefault(_caps, kind, out bool exists);
            if (!exists) cap = new Cap(where.Split(' ')[0], limit, more ?? "problems");
            if (cap.Shown >= cap.Limit)
            {
                cap.Dropped++;
                return;
            }
            cap.Shown++;
        }
        _problems.Add(new FsckProblem(where, message));
    }

    /// <summary>
    /// Whether more problems of <paramref name="kind"/> would only be counted; a caller that can
    /// count a batch cheaply then adds it with <see cref="CountDropped"/> instead of one by one.
    /// </summary>
    public bool IsCapped(string kind) => !Options.Verbose && _caps.TryGetValue(kind, out var cap) && cap.Shown >= cap.Limit;

    public void CountDropped(string kind, long count)
    {
        ref var cap = ref CollectionsMarshal.GetValueRefOrNullRef(_caps, kind);
        if (!Unsafe.IsNullRef(ref cap)) cap.Dropped += count;
    }

    public void Note(string note) => _notes.Add(note);

    public void Verbose(string note)
    {
        if (Options.Verbose) _notes.Add(note);
    }

    /// <summary>Closes a phase: one summary line per capped kind.</summary>
    public void EndPhase(string phase)
    {
        foreach (var cap in _caps.Values)
            if (cap.Dropped > 0) _problems.Add(new FsckProblem(cap.Where, $"... and {cap.Dropped} more {cap.More}"));
        _caps.Clear();
        Verbose($"{phase} done: {_problems.Count} problem line(s) so far");
    }

    public void Report(string phase, long done, long total) => progress?.Report(new FsckProgress(phase, done, total));

    /// <summary>Reports progress every <see cref="ProgressEvery"/> items and at the end.</summary>
    public void Tick(string phase, long done, long total)
    {
        if (progress is not null && (done % ProgressEvery == 0 || done == total)) Report(phase, done, total);
    }

    public FsckReport ToReport()
    {
        long dirs = 0, files = 0, links = 0;
        foreach (var rec in Inodes.Values)
        {
            switch (rec.FileType)
            {
                case FileTypes.Directory: dirs++; break;
                case FileTypes.Regular: files++; break;
                case FileTypes.Symlink: links++; break;
            }
        }
        var stats = new FsckStats(Inodes.Count, dirs, files, links, DirentCount, Extents.Count, Rmaps.Count,
            UsedDataBlocks, FreeDataBlocks, TransactionsReplayed, Orphans, PendingTrims);
        return new FsckReport(_problems.ToArray(), stats, _notes.ToArray());
    }
}

internal struct Cap(string where, int limit, string more)
{
    public readonly string Where = where;
    public readonly int Limit = limit;
    public readonly string More = more;
    public int Shown;
    public long Dropped;
}

/// <summary>A directory entry that survived phase 4.</summary>
internal readonly record struct DirentInfo(long Slot, ulong Parent, ulong Child, byte Type, byte[] Name);

/// <summary>A physical range somebody claims (rmap record, metadata area, or a forward map missing its rmap record).</summary>
internal readonly record struct Claim(long Start, long Count, RmapOwnerKind Kind, ulong Owner)
{
    public long End => Start + Count;
}
