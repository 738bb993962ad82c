"""增信通 (ZengXinTong): the nightly taxpayer-credit pipeline."""
