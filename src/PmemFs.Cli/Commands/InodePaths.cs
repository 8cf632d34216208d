using PmemFs.Format;

namespace PmemFs.Cli.Commands;

/// <summary>
/// One name for each inode (the first found: its parent and its name there) and the paths they
/// make: what rmap and info IMAGE print beside an inode number.
/// </summary>
internal sealed class InodePaths
{
    private readonly Dictionary<ulong, (ulong Parent, string Name)> _names = [];

    public int Count => _names.Count;

    /// <summary>Records <paramref name="child"/>'s name; false (nothing changed) if it has one already.</summary>
    public bool Add(ulong child, ulong parent, string name) => _names.TryAdd(child, (parent, name));

    /// <summary>"/a/b" by the first name found for each inode up to the root; null when no name leads there (an open-unlinked file, or a name lost to damage).</summary>
    public string? PathOf(ulong ino)
    {
        var parts = new List<string>();
        for (int depth = 0; ino != FormatConstants.RootIno; depth++)
        {
            if (depth > 4096 || !_names.TryGetValue(ino, out var n)) return null;
            parts.Add(n.Name);
            ino = n.Parent;
        }
        parts.Reverse();
        return "/" + string.Join('/', parts);
    }
}
