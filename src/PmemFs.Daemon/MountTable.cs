namespace PmemFs.Daemon;

/// <summary>
/// One line of /proc/self/mountinfo; <paramref name="Device"/> is its "major:minor" (decimal);
/// <paramref name="ReadOnly"/> when the mount or its superblock is read-only (also after a
/// `mount -o remount,ro`, which FUSE handles without telling the daemon).
/// </summary>
public sealed record MountEntry(string Mountpoint, string FsType, string Source, string Device = "", bool ReadOnly = false);

/// <summary>Reads the kernel's mount table (octal escapes such as \040 decoded).</summary>
public static class MountTable
{
    public static IReadOnlyList<MountEntry> Read()
    {
        var list = new List<MountEntry>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            int dash = Array.IndexOf(fields, "-");
            if (dash < 0 || fields.Length < dash + 3 || fields.Length < 5) continue;
            bool readOnly = HasOption(fields[5], "ro") || (fields.Length > dash + 3 && HasOption(fields[dash + 3], "ro"));
            list.Add(new MountEntry(Unescape(fields[4]), fields[dash + 1], Unescape(fields[dash + 2]), fields[2], readOnly));
        }
        return list;
    }

    /// <summary>The PmemFs mount on <paramref name="mountpoint"/>, or null.</summary>
    public static MountEntry? FindPmemFs(string mountpoint)
    {
        string full = Path.GetFullPath(mountpoint).TrimEnd('/');
        if (full.Length == 0) full = "/";
        return Read().LastOrDefault(m => m.Mountpoint == full && m.FsType == "fuse.pmemfs");
    }

    /// <summary>The mount of <paramref name="image"/> this daemon serves: by mount point, or by source when the kernel shows the mount point resolved differently (symlinks).</summary>
    public static MountEntry? FindServing(string mountpoint, string image) =>
        FindPmemFs(mountpoint) ?? Read().LastOrDefault(m => m.FsType == "fuse.pmemfs" && m.Source == image);

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
