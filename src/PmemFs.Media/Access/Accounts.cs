using System.Globalization;
using System.Runtime.InteropServices;
using PmemFs.Media.Native;

namespace PmemFs.Media.Access;

/// <summary>
/// User and group names of ids, and group ids of names, through libc's NSS lookups (so LDAP or
/// systemd users resolve as they do for ls). Unknown ids are shown as numbers, as ls shows them.
/// </summary>
public static unsafe class Accounts
{
    private const int BufferSize = 16 * 1024;

    /// <summary>The user's name, or its number when it has none.</summary>
    public static string UserName(uint uid)
    {
        LibC.passwd_t pwd;
        void* result = null;
        byte* buffer = stackalloc byte[BufferSize];
        if (LibC.getpwuid_r(uid, &pwd, buffer, BufferSize, &result) == 0 && result != null && pwd.pw_name != null)
            return Marshal.PtrToStringUTF8((nint)pwd.pw_name) ?? uid.ToString(CultureInfo.InvariantCulture);
        return uid.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The group's name, or its number when it has none.</summary>
    public static string GroupName(uint gid) => Group(gid)?.Name ?? gid.ToString(CultureInfo.InvariantCulture);

    /// <summary>The users listed as members of the group (not those whose primary group it is), or empty.</summary>
    public static IReadOnlyList<string> GroupMembers(uint gid) => Group(gid)?.Members ?? [];

    /// <summary>A group given by name or number: its id, or null when no such group exists.</summary>
    public static uint? GroupId(string nameOrNumber)
    {
        if (uint.TryParse(nameOrNumber, NumberStyles.None, CultureInfo.InvariantCulture, out uint gid)) return gid;
        LibC.group_t grp;
        void* result = null;
        byte* buffer = stackalloc byte[BufferSize];
        if (LibC.getgrnam_r(nameOrNumber, &grp, buffer, BufferSize, &result) == 0 && result != null) return grp.gr_gid;
        return null;
    }

    private static (string Name, string[] Members)? Group(uint gid)
    {
        LibC.group_t grp;
        void* result = null;
        byte* buffer = stackalloc byte[BufferSize];
        if (LibC.getgrgid_r(gid, &grp, buffer, BufferSize, &result) != 0 || result == null || grp.gr_name == null) return null;
        var members = new List<string>();
        for (byte** m = grp.gr_mem; m != null && *m != null; m++)
            members.Add(Marshal.PtrToStringUTF8((nint)(*m)) ?? "");
        return (Marshal.PtrToStringUTF8((nint)grp.gr_name) ?? gid.ToString(CultureInfo.InvariantCulture), members.ToArray());
    }
}
