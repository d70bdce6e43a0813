/* ProcessPrng for Wine 8.0, which has no bcryptprimitives.dll: Rust's std (1.78+) imports it,
 * so without this DLL every Windows test binary exits with status 53 before main. Built by
 * scripts/wine-test.sh and found through WINEPATH; newer Wine (8.13+) ships its own. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0xFFFFFFFFu ? 0xFFFFFFFFu : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
