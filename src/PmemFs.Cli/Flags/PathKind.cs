using System.Runtime.InteropServices;
using PmemFs.Cli.Native;

namespace PmemFs.Cli.Flags;

public enum FileType
{
    Regular,
    Directory,
    Symlink,
    Other,
}

/// <summary>lstat(2) for chattr and lsattr: flags exist only on regular files and directories, and symlinks are never followed.</summary>
public static unsafe class PathKind
{
    /// <summary>The type of the file <paramref name="path"/> names (the link itself for a symlink), or an errno.</summary>
    public static int Lstat(string path, out FileType type)
    {
        LibC.statx_t st;
        type = FileType.Other;
        if (LibC.statx(LibC.AT_FDCWD, path, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_TYPE, &st) != 0)
            return Marshal.GetLastPInvokeError();
        type = (st.stx_mode & LibC.S_IFMT) switch
        {
            LibC.S_IFREG => FileType.Regular,
            LibC.S_IFDIR => FileType.Directory,
            LibC.S_IFLNK => FileType.Symlink,
            _ => FileType.Other,
        };
        return 0;
    }

    // .NET skips "hidden" (dot) files by default; lsattr -a and chattr -R need them.
    private static readonly EnumerationOptions AllEntries = new()
    {
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        MatchType = MatchType.Simple,
        ReturnSpecialDirectories = false,
    };

    /// <summary>chattr(1)'s and lsattr(1)'s wording of a failed lstat.</summary>
    public static string StatError(string path, int errno) => $"{FlagIoctl.Message(errno)} while trying to stat {path}";

    /// <summary>
    /// The names in a directory, sorted (readdir order differs from run to run; output should
    /// not), without "." and ".."; or null, with chattr(1)'s and lsattr(1)'s wording of the
    /// failure in <paramref name="error"/>.
    /// </summary>
    public static List<string>? TryEntries(string dir, out string error)
    {
        error = "";
        try
        {
            var names = Directory.EnumerateFileSystemEntries(dir, "*", AllEntries).Select(p => Path.GetFileName(p)).ToList();
            names.Sort(StringComparer.Ordinal);
            return names;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error = $"{e.Message} while reading directory {dir}";
            return null;
        }
    }
}
