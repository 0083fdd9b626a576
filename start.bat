@echo off
rem zproxy launcher for Windows.
rem   start.bat             install what is missing, then serve on %HOST%:%PORT%
rem                         (default 127.0.0.1:8080), guest mode
rem   start.bat demo        offline demo: the proxy and a fake Z.AI upstream on this machine
rem   start.bat test [ARGS] install test dependencies, lint, type-check and run the tests
rem Settings come from the environment, .env.local and .env (the environment wins).
rem Dependencies are installed once, and again only when pyproject.toml changes (like start.sh).
rem The browser tests drive Chrome, Edge or Chromium (ZPROXY_CHROMIUM=path\to\chrome.exe);
rem when none is found they are skipped (pytest -m "not browser") and a note says so.
setlocal EnableExtensions
cd /d "%~dp0"
set "VENV=.venv"
set "PY=%VENV%\Scripts\python.exe"
if not exist "%PY%" call :make_venv || exit /b 1
if /I "%~1"=="test" goto :test
if /I "%~1"=="demo" goto :demo
if not "%~1"=="" goto :usage
call :install "" "" || exit /b 1
"%PY%" run.py
exit /b %ERRORLEVEL%

:demo
call :install "" "" || exit /b 1
"%PY%" -m tests.fakes.demo
exit /b %ERRORLEVEL%

:test
call :install "-test" "[test]" || exit /b 1
set "MARKS="
if not defined ZPROXY_CHROMIUM call :find_chromium
if not defined ZPROXY_CHROMIUM (
  echo zproxy: no Chrome, Edge or Chromium found: browser tests skipped. Set ZPROXY_CHROMIUM to run them. 1>&2
  set "MARKS=not browser"
)
"%VENV%\Scripts\ruff.exe" check zproxy tests run.py || exit /b 1
"%VENV%\Scripts\mypy.exe" || exit /b 1
shift
if defined MARKS (
  "%PY%" -m pytest -q -m "%MARKS%" %1 %2 %3 %4 %5 %6 %7 %8 %9
) else (
  "%PY%" -m pytest -q %1 %2 %3 %4 %5 %6 %7 %8 %9
)
exit /b %ERRORLEVEL%

:make_venv
rem the first Python 3.11 or newer among the launcher and PATH
for %%P in ("py -3.13" "py -3.12" "py -3.11" "py -3" python python3) do (
  %%~P -c "import sys; sys.exit(sys.version_info < (3, 11))" >nul 2>&1 && (
    %%~P -m venv "%VENV%" && exit /b 0
  )
)
echo zproxy needs Python 3.11 or newer (https://www.python.org/downloads/) 1>&2
exit /b 1

:install
rem %1: stamp suffix, %2: pip extra. Skipped while the stamp is newer than pyproject.toml.
set "STAMP=%VENV%\.zproxy-installed%~1"
"%PY%" -c "import os,sys; s=sys.argv[1]; sys.exit(not (os.path.exists(s) and os.path.getmtime(s) >= os.path.getmtime('pyproject.toml')))" "%STAMP%" && exit /b 0
echo zproxy: installing dependencies... 1>&2
"%PY%" -m pip install --quiet --disable-pip-version-check -e ".%~2" || exit /b 1
type nul > "%STAMP%"
exit /b 0

:find_chromium
for %%B in ("%ProgramFiles%\Google\Chrome\Application\chrome.exe"
            "%ProgramFiles(x86)%\Google\Chrome\Application\chrome.exe"
            "%LocalAppData%\Google\Chrome\Application\chrome.exe"
            "%ProgramFiles%\Chromium\Application\chrome.exe"
            "%ProgramFiles(x86)%\Microsoft\Edge\Application\msedge.exe"
            "%ProgramFiles%\Microsoft\Edge\Application\msedge.exe") do (
  if exist "%%~B" (
    set "ZPROXY_CHROMIUM=%%~B"
    exit /b 0
  )
)
exit /b 0

:usage
echo usage: start.bat [demo ^| test [pytest args...]] 1>&2
exit /b 2
