namespace PmemFs.Daemon;

/// <summary>
/// One line of /proc/self/mountinfo; <paramref name="Device"/> is its "major:minor" (decimal);
/// <paramref name="ReadOnly"/> when the mount or its superblock is read-only (also after a
/// `mount -o remount,ro`, which FUSE handles without telling the daemon).
/// </summary>
public sealed record MountEntry(string Mountpoint, string FsType, string Source, string Device = "", bool ReadOnly = false)
{
    /// <summary>
    /// Served by PmemFs: type fuse.pmemfs, or plain fuse (a mount with -o nosubtype) whose source
    /// is a PmemFs region (<see cref="PmemFsSource"/>). Worked out when asked, so that only the
    /// entries a lookup has narrowed down (by mount point or source) read their source.
    /// </summary>
    public bool IsPmemFs =>
        FsType == MountTable.PmemFsType || (FsType == MountTable.PlainFuseType && PmemFsSource.Names(Source, Mountpoint));

    /// <summary>The per-mount options (mountinfo's sixth field: rw, nosuid, nodev, relatime, ...).</summary>
    public string MountFlags { get; init; } = "";
}

/// <summary>Reads the kernel's mount table (octal escapes such as \040 decoded).</summary>
public static class MountTable
{
    /// <summary>The type mountinfo shows for a PmemFs mount (FUSE subtype pmemfs).</summary>
    public const string PmemFsType = "fuse.pmemfs";

    /// <summary>The type of a FUSE mount without a subtype (-o nosubtype).</summary>
    public const string PlainFuseType = "fuse";

    public static IReadOnlyList<MountEntry> Read()
    {
        var list = new List<MountEntry>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            int dash = Array.IndexOf(fields, "-");
            if (dash < 0 || fields.Length < dash + 3 || fields.Length < 5) continue;
            bool readOnly = HasOption(fields[5], "ro") || (fields.Length > dash + 3 && HasOption(fields[dash + 3], "ro"));
            string mountpoint = Unescape(fields[4]), type = fields[dash + 1], source = Unescape(fields[dash + 2]);
            list.Add(new MountEntry(mountpoint, type, source, fields[2], readOnly) { MountFlags = fields[5] });
        }
        return list;
    }

    /// <summary>The PmemFs mount on <paramref name="mountpoint"/>, or null.</summary>
    public static MountEntry? FindPmemFs(string mountpoint)
    {
        string full = Path.GetFullPath(mountpoint).TrimEnd('/');
        if (full.Length == 0) full = "/";
        return Read().LastOrDefault(m => m.Mountpoint == full && m.IsPmemFs);
    }

    /// <summary>The mount of <paramref name="image"/> this daemon serves: by mount point, or by source when the kernel shows the mount point resolved differently (symlinks).</summary>
    public static MountEntry? FindServing(string mountpoint, string image) =>
        FindPmemFs(mountpoint) ?? FindByImage(image);

    /// <summary>The PmemFs mount serving <paramref name="image"/> (its source, fsname=), or null.</summary>
    public static MountEntry? FindByImage(string image) => Read().LastOrDefault(m => m.Source == image && m.IsPmemFs);

    /// <summary>
    /// The mount that holds <paramref name="realPath"/> (symlinks already resolved): the longest
    /// mount point that is a prefix of it, the last one listed when mounts are stacked (it hides
    /// the ones under it).
    /// </summary>
    public static MountEntry? Containing(string realPath, IReadOnlyList<MountEntry> mounts)
    {
        MountEntry? best = null;
        foreach (var m in mounts)
        {
            bool holds = m.Mountpoint == "/" || realPath == m.Mountpoint || realPath.StartsWith(m.Mountpoint + "/", StringComparison.Ordinal);
            if (holds && (best is null || m.Mountpoint.Length >= best.Mountpoint.Length)) best = m;
        }
        return best;
    }

    private static bool HasOption(string options, string name) => options.Split(',').Contains(name);

    private static string Unescape(string s)
    {
        if (!s.Contains('\\', StringComparison.Ordinal)) return s;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) && IsOctal(s[i + 3]))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';
}
