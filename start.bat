@echo off
rem zproxy launcher for Windows.
rem   start.bat            install what is missing, then serve on %PORT% (default 8080)
rem   start.bat test [ARGS] install test dependencies, lint, type-check and run the tests
rem Settings come from the environment, .env.local and .env (the environment wins).
setlocal
cd /d "%~dp0"
if not exist .venv\Scripts\python.exe (
  py -3 -m venv .venv 2>nul || python -m venv .venv || goto :nopython
)
if /I "%~1"=="test" goto :test
.venv\Scripts\python.exe -m pip install --quiet --disable-pip-version-check -e . || exit /b 1
.venv\Scripts\python.exe run.py
exit /b %ERRORLEVEL%

:test
shift
.venv\Scripts\python.exe -m pip install --quiet --disable-pip-version-check -e .[test] || exit /b 1
.venv\Scripts\ruff.exe check zproxy tests run.py || exit /b 1
.venv\Scripts\mypy.exe || exit /b 1
.venv\Scripts\python.exe -m pytest -q %1 %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%

:nopython
echo zproxy needs Python 3.11 or newer (https://www.python.org/downloads/)
exit /b 1
