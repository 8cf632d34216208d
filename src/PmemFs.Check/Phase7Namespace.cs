using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 7: the tree. From the root, every directory is reached exactly once (one entry names
/// it; no cycles; nothing names the root); a directory's nlink is 2 + its subdirectories, a
/// non-directory's is the number of entries naming it. An inode with no link and no entry is
/// an orphan the engine frees at next mount (a note); one with links but no way to reach it is
/// disconnected (a problem). Anything whose place hangs on a damaged inode or entry is not judged.
/// </summary>
internal static class Phase7Namespace
{
    private const int ListedInNote = 20;
    private static readonly byte DirType = FileTypes.ToDirentType(FileTypes.Directory);

    public static void Run(FsckContext ctx)
    {
        const ulong root = FormatConstants.RootIno;
        ctx.Report("namespace", 0, ctx.Inodes.Count);
        var children = new Dictionary<ulong, List<DirentInfo>>();
        var namedBy = new Dictionary<ulong, List<DirentInfo>>();
        foreach (var d in ctx.Dirents)
        {
            if (!children.TryGetValue(d.Parent, out var c)) children[d.Parent] = c = [];
            c.Add(d);
            if (!namedBy.TryGetValue(d.Child, out var n)) namedBy[d.Child] = n = [];
            n.Add(d);
            if (d.Child == root)
                ctx.Problem($"dirent slot {d.Slot}", $"{Describe.Name(d.Name)} in directory {d.Parent} points at the root directory");
        }

        bool IsDir(ulong ino) => ctx.Inodes.TryGetValue(ino, out var r) && r.FileType == FileTypes.Directory;
        // A damaged child's type is only known from the entry (phase 4 checked it for the others).
        bool IsSubdirectory(DirentInfo d) => ctx.DamagedInodes.Contains(d.Child) ? d.Type == DirType : IsDir(d.Child);

        var reachable = Walk(children, IsDir, IsDir(root) ? [root] : []);
        // Below a damaged directory (or entry) nothing can be said about reachability.
        var uncertain = Walk(children, IsDir, ctx.UnderDamagedDirectory.Where(i => !reachable.Contains(i)));

        var lost = ctx.Inodes.Where(kv => kv.Value.FileType == FileTypes.Directory && kv.Key != root
                && !reachable.Contains(kv.Key) && !uncertain.Contains(kv.Key) && !(kv.Value.Nlink == 0 && !namedBy.ContainsKey(kv.Key)))
            .Select(kv => kv.Key).Order().ToList();
        var lostTops = LostSubtreeTops(lost, namedBy);

        string damagedHint = ctx.DamagedDirents ? " (some dirent slots are damaged; one may name it)" : "";
        var orphans = new List<ulong>();
        var trims = new List<ulong>();
        long done = 0;
        foreach (var ino in ctx.Inodes.Keys.Order())
        {
            ctx.Tick("namespace", ++done, ctx.Inodes.Count);
            var rec = ctx.Inodes[ino];
            string where = $"inode {ino}";
            int links = namedBy.TryGetValue(ino, out var names) ? names.Count : 0;
            if (rec.PendingTrim != 0) trims.Add(ino);
            if (FileMap.TrimInsideFile(rec))
                ctx.Problem(where, $"pending trim from file block {rec.PendingTrim - 1} lies inside the file (size {rec.Size}): finishing it would drop data");
            if (rec.Nlink == 0 && links == 0 && ino != root)
            {
                // rmdir only removes empty directories: a removed one that still holds entries is lost.
                if (children.TryGetValue(ino, out var held))
                    ctx.Problem(where, $"removed directory (nlink 0, no entry names it) still holds {held.Count} entr{(held.Count == 1 ? "y" : "ies")}");
                else orphans.Add(ino);
                continue;
            }
            bool known = reachable.Contains(ino) || uncertain.Contains(ino);
            if (rec.FileType == FileTypes.Directory)
            {
                if (ino != root && links > 1)
                    ctx.Problem(where, $"directory is named by {links} entries (dirent slots {string.Join(", ", names!.Take(ListedInNote).Select(n => n.Slot))}{(links > ListedInNote ? ", ..." : "")}); a directory has exactly one");
                if (!known && lostTops.TryGetValue(ino, out var why)) ctx.Problem(where, why);
                long subdirs = children.TryGetValue(ino, out var inDir) ? inDir.Count(d => d.Child != root && IsSubdirectory(d)) : 0;
                if (rec.Nlink != 2 + subdirs)
                    ctx.Problem(where, $"directory nlink is {rec.Nlink}, expected {2 + subdirs} (2 + {subdirs} subdirector{(subdirs == 1 ? "y" : "ies")})");
            }
            else
            {
                if (links == 0)
                {
                    if (!uncertain.Contains(ino))
                        ctx.Problem(where, $"{Describe.FileType(rec.Mode)} with nlink {rec.Nlink} is disconnected: no directory entry names it{damagedHint}");
                }
                else if (rec.Nlink != links)
                {
                    ctx.Problem(where, $"nlink is {rec.Nlink} but {links} directory entr{(links == 1 ? "y names" : "ies name")} it{(links < rec.Nlink ? damagedHint : "")}");
                }
            }
        }

        ctx.Orphans = orphans.Count;
        ctx.PendingTrims = trims.Count;
        if (orphans.Count > 0)
            ctx.Note($"{orphans.Count} orphan inode(s) (no link, no entry; freed at next mount): {List(orphans)}");
        if (trims.Count > 0)
            ctx.Note($"{trims.Count} inode(s) with an interrupted truncate (finished at next mount): {List(trims)}");
    }

    /// <summary>Breadth-first from <paramref name="starts"/> through directory entries; returns every inode reached.</summary>
    private static HashSet<ulong> Walk(Dictionary<ulong, List<DirentInfo>> children, Func<ulong, bool> isDir, IEnumerable<ulong> starts)
    {
        var seen = new HashSet<ulong>();
        var queue = new Queue<ulong>();
        foreach (var s in starts)
            if (seen.Add(s) && isDir(s)) queue.Enqueue(s);
        while (queue.Count > 0)
        {
            var dir = queue.Dequeue();
            if (!children.TryGetValue(dir, out var entries)) continue;
            foreach (var d in entries)
                if (seen.Add(d.Child) && isDir(d.Child)) queue.Enqueue(d.Child);
        }
        return seen;
    }

    /// <summary>
    /// For directories the walk from the root did not reach: the top of each lost subtree and
    /// why it is lost (no entry names it, or it is on a cycle). Directories below a top are left
    /// out: one line per lost subtree, not one per directory in it. Each directory is visited
    /// once, so a long chain or cycle costs linear time.
    /// </summary>
    private static Dictionary<ulong, string> LostSubtreeTops(List<ulong> lost, Dictionary<ulong, List<DirentInfo>> namedBy)
    {
        var lostSet = lost.ToHashSet();
        var tops = new Dictionary<ulong, string>();
        var classified = new HashSet<ulong>();
        foreach (var start in lost)
        {
            var path = new List<ulong>();
            var index = new Dictionary<ulong, int>();
            ulong cur = start;
            while (!classified.Contains(cur))
            {
                if (index.TryGetValue(cur, out int at))
                {
                    var cycle = path.GetRange(at, path.Count - at); // child -> parent order
                    for (int k = 0; k < cycle.Count; k++)
                    {
                        var loop = cycle.Skip(k).Concat(cycle.Take(k)).Append(cycle[k]).Reverse();
                        tops[cycle[k]] = $"directory is disconnected: it is on a directory cycle ({string.Join(" -> ", loop)}) unreachable from the root";
                    }
                    break;
                }
                index[cur] = path.Count;
                path.Add(cur);
                if (!namedBy.TryGetValue(cur, out var names) || names.Count == 0)
                {
                    // A removed (orphan) directory at the top is reported on its own.
                    if (lostSet.Contains(cur)) tops[cur] = "directory is disconnected: no directory entry names it";
                    break;
                }
                cur = names[0].Parent;
            }
            classified.UnionWith(path);
        }
        return tops;
    }

    private static string List(List<ulong> inos) =>
        string.Join(", ", inos.Take(ListedInNote)) + (inos.Count > ListedInNote ? $", ... ({inos.Count - ListedInNote} more)" : "");
}
